// Heartbeat bookkeeping, separate from sockets so that a TimerWheel advanced
// by hand drives it in tests.
//
// SilenceWatch: "nothing arrived for `timeout`". seen() is a single store; the
// entry stays where it is in the wheel. When it fires and something was seen
// since it was scheduled, it moves itself to last_seen + timeout (one O(1)
// relink) instead of expiring. So a connection costs one wheel operation
// per (timeout - gap between its frames), e.g. one per 60 s with pings every
// 30 s and a 90 s timeout, however many frames it receives; never an
// allocation. Expiry is exact: it fires at the first advance() to a time
// >= last_seen + timeout.
//
// PingSchedule: "ping when the link has been quiet for `interval`". Quiet
// means nothing sent (so a busy sender pings never) or nothing received (so a
// one-way sender still learns that its peer is alive). After a ping it waits
// a whole interval before the next, whatever the peer does.
//
// Both use the wheel's clock (TimerWheel::now_ms(), which an EventLoop
// advances once per iteration) and call their listener from the wheel's
// advance(). Thread rules: the owner's loop thread only.
#pragma once

#include <chrono>
#include <cstdint>

#include "sluice/base/clock.h"
#include "sluice/loop/timer_wheel.h"

namespace sluice::msg {

struct HeartbeatOptions {
  Millis interval{30'000};  // 0: no heartbeat
  int misses = 3;           // silence of misses * interval closes the link

  bool enabled() const noexcept { return interval.count() > 0; }
  std::int64_t timeout_ms() const noexcept { return interval.count() * misses; }
  bool valid() const noexcept { return interval.count() >= 0 && misses >= 1; }
};

class SilenceWatch final : private TimerEntry {
 public:
  class Listener {
   public:
    virtual void on_silence() = 0;

   protected:
    ~Listener() = default;
  };

  explicit SilenceWatch(Listener& listener) noexcept : listener_(&listener) {}

  // Starts watching: expires at now + timeout unless seen() moves it on.
  void start(TimerWheel& wheel, std::int64_t timeout_ms) noexcept;
  void stop() noexcept;
  // Something arrived: O(1), one store, no wheel operation.
  void seen() noexcept {
    if (wheel_ != nullptr) last_seen_ms_ = wheel_->now_ms();
  }

  bool active() const noexcept { return scheduled(); }
  std::int64_t last_seen_ms() const noexcept { return last_seen_ms_; }
  std::int64_t expires_at_ms() const noexcept { return last_seen_ms_ + timeout_ms_; }
  // Wheel relinks done when the entry fired early (for tests and benches).
  std::uint64_t rearms() const noexcept { return rearms_; }

 private:
  void on_timer() override;

  Listener* listener_;
  TimerWheel* wheel_ = nullptr;
  std::int64_t timeout_ms_ = 0;
  std::int64_t last_seen_ms_ = 0;
  std::uint64_t rearms_ = 0;
};

class PingSchedule final : private TimerEntry {
 public:
  class Listener {
   public:
    // Send a ping now (and call sent(), as any send does).
    virtual void on_ping_due() = 0;

   protected:
    ~Listener() = default;
  };

  explicit PingSchedule(Listener& listener) noexcept : listener_(&listener) {}

  void start(TimerWheel& wheel, std::int64_t interval_ms) noexcept;
  void stop() noexcept;
  void sent() noexcept {
    if (wheel_ != nullptr) last_sent_ms_ = wheel_->now_ms();
  }
  void received() noexcept {
    if (wheel_ != nullptr) last_received_ms_ = wheel_->now_ms();
  }

  bool active() const noexcept { return scheduled(); }
  std::uint64_t pings() const noexcept { return pings_; }
  std::uint64_t rearms() const noexcept { return rearms_; }

 private:
  void on_timer() override;

  Listener* listener_;
  TimerWheel* wheel_ = nullptr;
  std::int64_t interval_ms_ = 0;
  std::int64_t last_sent_ms_ = 0;
  std::int64_t last_received_ms_ = 0;
  std::uint64_t pings_ = 0;
  std::uint64_t rearms_ = 0;
};

}  // namespace sluice::msg
