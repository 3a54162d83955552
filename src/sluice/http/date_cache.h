// The Date header value (RFC 9110 IMF-fixdate), rendered at most once per
// second per thread. Thread rules: a thread-local cache; no locking.
#pragma once

#include <cstdint>
#include <ctime>
#include <string_view>

namespace sluice::http {

// "Thu, 26 Nov 2026 23:57:37 GMT" for the current second.
std::string_view http_date_now() noexcept;
// The same, re-read from the wall clock only when the second of the caller's
// monotonic clock (an event loop's cached time, in ms) moves on: a request
// costs no clock read.
std::string_view http_date_at(std::int64_t monotonic_ms) noexcept;
// The same format for any time (Last-Modified); writes 29 bytes into out.
std::string_view format_http_date(std::time_t t, char (&out)[32]) noexcept;
// Parses an IMF-fixdate; -1 when the text is not one.
std::time_t parse_http_date(std::string_view text) noexcept;

}  // namespace sluice::http
