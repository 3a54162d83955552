// Errors as values. Sluice never exits or aborts on anything that comes from
// outside (input, peers, kernel limits, an exhausted pool): it returns an
// Error, and the caller decides. Thread rules: plain values, no sharing.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace sluice {

// Sluice's own error conditions; kernel errors travel as std::errc / errno.
enum class Errc {
  kOk = 0,
  kPoolLimit,   // the buffer pool's memory limit would be exceeded
  kTooLarge,    // a request larger than the largest size class
  kBufferFull,  // a buffer reached the cap its owner set
  kTimeout,     // a wait ran out of time
  kClosed,      // the object is closed or gone
  kInvalidArgument,
};

const std::error_category& sluice_category() noexcept;

inline std::error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), sluice_category()};
}

// The error of the last failed system call.
inline std::error_code errno_code(int err = errno) noexcept {
  return {err, std::system_category()};
}

// A value or an error. Small on purpose: C++20 has no std::expected.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}   // NOLINT(google-explicit-constructor)
  Result(std::error_code ec) : v_(ec) {}      // NOLINT(google-explicit-constructor)
  Result(Errc e) : v_(make_error_code(e)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  std::error_code error() const noexcept { return ok() ? std::error_code{} : std::get<1>(v_); }

 private:
  std::variant<T, std::error_code> v_;
};

// Success or an error, for operations without a value.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(std::error_code ec) : ec_(ec) {}      // NOLINT(google-explicit-constructor)
  Status(Errc e) : ec_(make_error_code(e)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const noexcept { return !ec_; }
  explicit operator bool() const noexcept { return ok(); }
  std::error_code error() const noexcept { return ec_; }

 private:
  std::error_code ec_;
};

}  // namespace sluice

template <>
struct std::is_error_code_enum<sluice::Errc> : std::true_type {};
