#include "sluice/http/date_cache.h"

#include <cstdio>
#include <cstring>

namespace sluice::http {
namespace {

constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

struct Cache {
  std::time_t second = -1;
  std::int64_t monotonic_second = -1;
  char text[32] = {};
  std::size_t length = 0;
};
thread_local Cache t_cache;

}  // namespace

std::string_view format_http_date(std::time_t t, char (&out)[32]) noexcept {
  std::tm tm{};
  gmtime_r(&t, &tm);
  int n = std::snprintf(out, sizeof out, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                        kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                        tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return {out, n > 0 ? static_cast<std::size_t>(n) : 0};
}

std::string_view http_date_now() noexcept {
  std::time_t now = std::time(nullptr);
  if (now != t_cache.second) {
    t_cache.second = now;
    t_cache.length = format_http_date(now, t_cache.text).size();
  }
  return {t_cache.text, t_cache.length};
}

std::string_view http_date_at(std::int64_t monotonic_ms) noexcept {
  std::int64_t sec = monotonic_ms / 1000;
  if (sec != t_cache.monotonic_second) {
    t_cache.monotonic_second = sec;
    return http_date_now();
  }
  return {t_cache.text, t_cache.length};
}

std::time_t parse_http_date(std::string_view text) noexcept {
  // "Sun, 06 Nov 1994 08:49:37 GMT": exactly 29 bytes.
  if (text.size() != 29 || text[3] != ',' || text.substr(25) != " GMT") return -1;
  char month[4] = {};
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  char buf[30];
  std::memcpy(buf, text.data(), 29);
  buf[29] = '\0';
  if (std::sscanf(buf + 5, "%2d %3s %4d %2d:%2d:%2d", &day, month, &year, &hour, &minute,
                  &second) != 6)
    return -1;
  int mon = -1;
  for (int i = 0; i < 12; ++i)
    if (std::strcmp(month, kMonths[i]) == 0) mon = i;
  if (mon < 0 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return -1;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return timegm(&tm);
}

}  // namespace sluice::http
