// Internal helpers of the command-line parsers (options.cc, webbench_mode.cc).
#pragma once

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "options.h"

namespace sluice::bench::detail {

template <class T>
inline bool parse_unsigned(const std::string& text, T& out) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || text.empty()) return false;
  if (value > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
  out = static_cast<T>(value);
  return true;
}

inline bool parse_positive_double(const std::string& text, double& out) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !(value > 0) || !std::isfinite(value))
    return false;
  out = value;
  return true;
}

// Walks argv: flags, "--name=value", "--name value", "-c10", "-c 10".
class ArgCursor {
 public:
  explicit ArgCursor(const std::vector<std::string>& args) : args_(args) {}
  bool done() const { return i_ >= args_.size(); }
  const std::string& current() const { return args_[i_]; }
  void advance() { ++i_; }
  // The value of the option at the cursor; moves past it. False when missing.
  bool value(const std::string& name, std::string& out) {
    const std::string& arg = args_[i_];
    if (arg.size() > name.size() && arg.compare(0, name.size(), name) == 0) {
      // "--name=value" or "-cVALUE"
      std::size_t skip = name.size();
      if (name.size() > 2 && arg[skip] == '=') ++skip;
      out = arg.substr(skip);
      ++i_;
      return true;
    }
    if (i_ + 1 >= args_.size()) return false;
    out = args_[i_ + 1];
    i_ += 2;
    return true;
  }
  // Does the argument at the cursor name this option (alone or with its value)?
  bool is(const std::string& name, bool takes_value) const {
    const std::string& arg = args_[i_];
    if (arg == name) return true;
    if (!takes_value || arg.size() <= name.size() || arg.compare(0, name.size(), name) != 0)
      return false;
    return name.size() == 2 || arg[name.size()] == '=';  // "-c10", "--name=v"
  }

 private:
  const std::vector<std::string>& args_;
  std::size_t i_ = 0;
};

inline ParseOutcome error(std::string text) {
  return {ParseOutcome::Kind::kError, std::move(text)};
}

inline ParseOutcome finish_url(Options& out) {
  if (out.url_text.empty()) return error("no URL given");
  std::string err;
  if (!parse_url(out.url_text, out.url, err)) return error(err);
  return {};
}

}  // namespace sluice::bench::detail
