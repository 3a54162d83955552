// TimerWheel: a hierarchical timing wheel (Varghese & Lauck, "Hashed and
// hierarchical timing wheels", 1987).
//
// Ticks of 1 ms. Level 0 has 256 slots of 1 tick; each higher level has 64
// slots, each as wide as the whole level below (256 ms, 16.4 s, 17.5 min,
// 18.6 h); deadlines past the top level's span (~49 days) are clamped to it.
// schedule, cancel and reschedule are O(1): unlink and link in a doubly linked
// slot list. Expiry cascades a higher-level slot down when the level below
// wraps. Occupancy bitmaps let the loop find the next deadline to arm its
// timerfd without scanning.
//
// Entries are intrusive: a TimerEntry lives inside its owner (a connection
// keeps one for its idle timeout) and is refreshed with no allocation.
// The wheel is driven by time values the caller gives (advance(now_ms)), so
// tests use a manual clock and never sleep.
// Thread rules: single-threaded; owned by one loop.
#pragma once

#include <cstdint>
#include <functional>

namespace sluice {

class TimerWheel;

// Derive from it, or use Timer (event_loop.h) for a callback object.
class TimerEntry {
 public:
  TimerEntry() = default;
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  virtual ~TimerEntry();  // unlinks if scheduled

  bool scheduled() const noexcept { return wheel_ != nullptr; }
  std::int64_t deadline_ms() const noexcept { return deadline_; }

  // Called by the wheel when the deadline passes. The entry is already
  // unlinked; it may reschedule itself or destroy its owner.
  virtual void on_timer() = 0;

 private:
  friend class TimerWheel;
  TimerEntry* prev_ = nullptr;
  TimerEntry* next_ = nullptr;
  TimerWheel* wheel_ = nullptr;
  std::int64_t deadline_ = 0;
};

class TimerWheel {
 public:
  explicit TimerWheel(std::int64_t now_ms = 0) noexcept;
  ~TimerWheel();  // unlinks every entry (their on_timer is not called)
  TimerWheel(const TimerWheel&) = delete;
  TimerWheel& operator=(const TimerWheel&) = delete;

  // Fires at the first advance() to a time >= deadline_ms. Scheduling an
  // already scheduled entry moves it (O(1)). A deadline in the past fires at
  // the next advance().
  void schedule_at(TimerEntry& e, std::int64_t deadline_ms) noexcept;
  void schedule_after(TimerEntry& e, std::int64_t delay_ms) noexcept {
    schedule_at(e, now_ms_ + delay_ms);
  }
  void cancel(TimerEntry& e) noexcept;

  // Moves time forward to now_ms, firing due entries in deadline order
  // (entries with the same millisecond deadline: in scheduling order).
  // Returns the number fired.
  std::size_t advance(std::int64_t now_ms);

  // A time not later than the earliest deadline, or -1 when empty. Exact for
  // level 0; for higher levels, the start of the earliest occupied slot (the
  // loop then advances and asks again).
  std::int64_t next_deadline_hint() const noexcept;

  std::int64_t now_ms() const noexcept { return now_ms_; }
  std::size_t size() const noexcept { return size_; }

 private:
  // private members are the implementer's choice
  std::int64_t now_ms_;
  std::size_t size_ = 0;
};

}  // namespace sluice
