// Minimal levelled logging to a file descriptor (stderr by default).
// Thread-safe: every line is one write(2). Lines at a level below the global
// threshold cost one relaxed load. Floods are rate-limited per call site with
// SLUICE_LOG_EVERY_MS.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>

namespace sluice::log {

enum class Level : int { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kOff = 4 };

void set_level(Level level) noexcept;
Level level() noexcept;
// Where lines go; the caller keeps the descriptor open. -1 restores stderr.
void set_fd(int fd) noexcept;
bool enabled(Level level) noexcept;

[[gnu::format(printf, 2, 3)]] void write(Level level, const char* fmt, ...) noexcept;

// True at most once per `interval_ms` for the call site owning `last_ms`.
bool rate_allow(std::atomic<std::int64_t>& last_ms, std::int64_t interval_ms) noexcept;

}  // namespace sluice::log

#define SLUICE_LOG(lvl, ...)                                        \
  do {                                                              \
    if (::sluice::log::enabled(::sluice::log::Level::lvl))          \
      ::sluice::log::write(::sluice::log::Level::lvl, __VA_ARGS__); \
  } while (0)

#define SLUICE_LOG_EVERY_MS(lvl, ms, ...)                             \
  do {                                                                \
    static std::atomic<std::int64_t> sluice_log_last_{INT64_MIN / 2}; \
    if (::sluice::log::enabled(::sluice::log::Level::lvl) &&          \
        ::sluice::log::rate_allow(sluice_log_last_, ms))              \
      ::sluice::log::write(::sluice::log::Level::lvl, __VA_ARGS__);   \
  } while (0)
