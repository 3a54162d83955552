// What msg-echo-server and msg-echo-client share: the message id, and the
// command-line numbers both parse.
#pragma once

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace msg_echo {

inline constexpr std::uint32_t kEchoId = 1;

inline bool parse_number(const char* text, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(text, &end, 10);
  return errno == 0 && end != text && *end == '\0' && out >= 0;
}

}  // namespace msg_echo
