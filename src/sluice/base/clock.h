// Monotonic time. Loops cache "now" once per iteration (see loop/event_loop.h);
// this header only names the clock and a few conversions.
#pragma once

#include <chrono>
#include <cstdint>

namespace sluice {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;
using Millis = std::chrono::milliseconds;

inline std::int64_t to_millis(TimePoint t) noexcept {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}

inline std::int64_t monotonic_millis() noexcept { return to_millis(Clock::now()); }

}  // namespace sluice
