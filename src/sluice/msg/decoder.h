// Decoder: finds frames at the front of received bytes.
//
// Frames may arrive split at any byte boundary and many in one read: decode()
// looks at the front of what is buffered and reports a whole frame, "need
// more", or a protocol error. A header is checked as soon as its 12 bytes are
// in, so an oversized length is refused before its body arrives. Bodies are
// views into the caller's bytes: nothing is copied.
// Thread rules: a value; one per connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sluice/msg/frame.h"

namespace sluice::msg {

enum class DecodeStatus : std::uint8_t {
  kFrame,       // `frame` is whole; `size` bytes (header + body) are used
  kNeedMore,    // not a whole frame yet (nothing wrong so far)
  kBadMagic,    // the first two bytes are not kMagic
  kBadVersion,  // a version this decoder does not speak
  kBadFlags,    // a reserved flag bit is set
  kBadLength,   // the body length is above the connection's limit
};

const char* to_string(DecodeStatus s) noexcept;
constexpr bool is_error(DecodeStatus s) noexcept {
  return s != DecodeStatus::kFrame && s != DecodeStatus::kNeedMore;
}

struct DecodeResult {
  DecodeStatus status = DecodeStatus::kNeedMore;
  Frame frame;
  std::size_t size = 0;  // bytes of the frame, when status is kFrame
  FrameHeader header;    // the offending header, for error reports
};

class Decoder {
 public:
  // `max_body_bytes` is clamped to kMaxBodyLimit.
  explicit Decoder(std::size_t max_body_bytes = kDefaultMaxBody) noexcept {
    set_max_body(max_body_bytes);
  }

  void set_max_body(std::size_t n) noexcept { max_body_ = n > kMaxBodyLimit ? kMaxBodyLimit : n; }
  std::size_t max_body() const noexcept { return max_body_; }
  // The receive-buffer cap that a whole frame of the largest size needs.
  std::size_t input_cap() const noexcept { return kHeaderSize + max_body_; }

  // Decodes the frame at the front of `bytes`.
  DecodeResult decode(std::string_view bytes) const noexcept;

 private:
  std::size_t max_body_ = kDefaultMaxBody;
};

}  // namespace sluice::msg
