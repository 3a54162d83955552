// Helpers for loop tests: every wait is bounded.
#pragma once

#include <chrono>
#include <functional>

#include "sluice/loop/event_loop.h"

namespace sluice::test {

// Runs `loop` until `done()` holds; false when `limit` passes first.
inline bool run_until(EventLoop& loop, const std::function<bool()>& done,
                      Duration limit = std::chrono::seconds(10)) {
  const TimePoint give_up = Clock::now() + limit;
  while (!done()) {
    if (Clock::now() > give_up) return false;
    loop.run_once(std::chrono::milliseconds(10));
  }
  return true;
}

// Runs `loop` for about `d` (to show that something does not happen).
inline void run_for(EventLoop& loop, Duration d) {
  const TimePoint end = Clock::now() + d;
  while (Clock::now() < end) loop.run_once(std::chrono::milliseconds(5));
}

}  // namespace sluice::test
