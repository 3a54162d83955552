#include "sluice/base/log.h"

#include <unistd.h>

#include <cstdarg>
#include <ctime>

#include "sluice/base/clock.h"

namespace sluice::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::atomic<int> g_fd{-1};

const char* level_name(Level level) noexcept {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
    case Level::kOff: break;
  }
  return "off";
}

}  // namespace

void set_level(Level lvl) noexcept {
  g_level.store(static_cast<int>(lvl), std::memory_order_relaxed);
}
Level level() noexcept { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
void set_fd(int fd) noexcept { g_fd.store(fd, std::memory_order_relaxed); }

bool enabled(Level lvl) noexcept {
  return static_cast<int>(lvl) >= g_level.load(std::memory_order_relaxed) && lvl != Level::kOff;
}

void write(Level lvl, const char* fmt, ...) noexcept {
  char line[1024];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  localtime_r(&now, &tm);
  std::size_t n = std::strftime(line, sizeof line, "%Y/%m/%d %H:%M:%S ", &tm);
  int k = std::snprintf(line + n, sizeof line - n, "[%s] %d: ", level_name(lvl),
                        static_cast<int>(getpid()));
  if (k > 0) n += static_cast<std::size_t>(k);
  va_list ap;
  va_start(ap, fmt);
  k = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  if (k > 0) n += static_cast<std::size_t>(k);
  if (n > sizeof line - 2) n = sizeof line - 2;
  line[n++] = '\n';
  int fd = g_fd.load(std::memory_order_relaxed);
  // One write per line keeps lines whole across threads and processes.
  ssize_t ignored = ::write(fd >= 0 ? fd : STDERR_FILENO, line, n);
  (void)ignored;
}

bool rate_allow(std::atomic<std::int64_t>& last_ms, std::int64_t interval_ms) noexcept {
  std::int64_t now = monotonic_millis();
  std::int64_t last = last_ms.load(std::memory_order_relaxed);
  if (now - last < interval_ms) return false;
  return last_ms.compare_exchange_strong(last, now, std::memory_order_relaxed);
}

}  // namespace sluice::log
