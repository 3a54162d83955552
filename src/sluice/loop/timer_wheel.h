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

#include <cstddef>
#include <cstdint>

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
  std::int32_t list_ = -1;  // index of the wheel list holding the entry
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
    schedule_at(e, delay_ms > kMaxDelayMs ? now_ms_ + kMaxDelayMs : now_ms_ + delay_ms);
  }
  void cancel(TimerEntry& e) noexcept;

  // Moves time forward to now_ms, firing due entries in deadline order
  // (entries with the same millisecond deadline: in scheduling order).
  // Returns the number fired. An entry scheduled from a callback fires in the
  // same call if its deadline is after the tick being fired and <= now_ms,
  // else at the next call. Called from inside on_timer(), it does nothing.
  std::size_t advance(std::int64_t now_ms);

  // A time not later than the earliest deadline, or -1 when empty. Exact for
  // level 0; for higher levels, the start of the earliest occupied slot (the
  // loop then advances and asks again).
  std::int64_t next_deadline_hint() const noexcept;

  std::int64_t now_ms() const noexcept { return now_ms_; }
  std::size_t size() const noexcept { return size_; }

  // The longest delay the wheel represents (2^32 - 1 ms, ~49.7 days).
  static constexpr std::int64_t kMaxDelayMs = (std::int64_t{1} << 32) - 1;

 private:
  // Level 0: 256 slots of 1 ms. Levels 1..4: 64 slots, each as wide as the
  // level below. Placement is by the highest bit in which the deadline differs
  // from cursor_ (see timer_wheel.cc), so every occupied slot lies ahead of
  // the cursor and "earliest" is the lowest set bit of the lowest level.
  static constexpr int kLevels = 5;
  static constexpr int kLevel0Slots = 256;
  static constexpr int kUpperSlots = 64;
  static constexpr int kWheelLists = kLevel0Slots + (kLevels - 1) * kUpperSlots;
  static constexpr int kPendingList = kWheelLists;     // deadline already passed
  static constexpr int kFiringList = kWheelLists + 1;  // being fired by advance()
  static constexpr int kListCount = kWheelLists + 2;

  struct List {
    TimerEntry* head = nullptr;
    TimerEntry* tail = nullptr;
  };
  struct Slot {
    int level;
    int index;
    std::uint64_t start;  // first millisecond the slot covers
  };
  class AdvanceScope;

  void link(TimerEntry& e, int list) noexcept;
  void unlink(TimerEntry& e) noexcept;
  List take(int list) noexcept;
  void place(TimerEntry& e) noexcept;
  bool earliest(Slot& out) const noexcept;
  void move_cursor(std::uint64_t to) noexcept;
  std::size_t fire_list(std::int64_t tick);

  List lists_[kListCount];
  std::uint64_t level0_bits_[kLevel0Slots / 64] = {};
  std::uint64_t upper_bits_[kLevels - 1] = {};
  // Every millisecond before cursor_ has been processed; placement is relative
  // to it. Outside advance() it is now_ms_ + 1 (or now_ms_ before the first).
  std::uint64_t cursor_;
  std::int64_t now_ms_;
  std::int64_t pending_min_;
  std::size_t size_ = 0;
  bool advancing_ = false;
};

}  // namespace sluice
