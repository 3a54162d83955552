// Hierarchical timing wheel.
//
// Placement rule. Let c be the cursor (the first millisecond not yet
// processed) and p the tick an entry waits for. The entry goes to the level
// holding the highest bit in which p and c differ:
//   level 0 (bits 0..7)   when p ^ c < 2^8,   slot p & 255;
//   level k (bits 8+6(k-1) .. 13+6(k-1)) otherwise, slot = p's bits there.
// Since p >= c, p's digit at that level is greater than c's (equal, at
// level 0), and p agrees with c on every higher digit. Two consequences keep
// the code short:
//   - every occupied slot lies ahead of the cursor, so the earliest slot of a
//     level is its lowest set bit, with no rotation arithmetic;
//   - every entry on level k is due before every entry on level k+1, so the
//     earliest deadline is on the lowest non-empty level.
// When the cursor enters a slot of level k >= 1 (it always enters at the
// slot's first millisecond, as nothing below is occupied by then), that slot
// is cascaded: its entries are placed again and land on lower levels.
//
// p is the deadline, except near the end of the cursor's 2^32 ms block: a
// deadline in the next block waits for the block's last tick, and is placed
// again (not fired) when that tick is processed.
#include "sluice/loop/timer_wheel.h"

#include <bit>
#include <cassert>
#include <limits>

namespace sluice {
namespace {

constexpr int kLevel0Bits = 8;
constexpr int kUpperBits = 6;
constexpr std::uint64_t kTopBlockMask = (std::uint64_t{1} << 32) - 1;

// Bit position where a level's digit starts; level 5 is "above the wheel".
constexpr int level_shift(int level) noexcept {
  return level == 0 ? 0 : kLevel0Bits + kUpperBits * (level - 1);
}

constexpr std::uint64_t bit(int i) noexcept { return std::uint64_t{1} << i; }

}  // namespace

TimerEntry::~TimerEntry() {
  if (wheel_ != nullptr) wheel_->cancel(*this);
}

// Restores the wheel's state if an on_timer() throws: entries not yet fired
// wait for the next advance().
class TimerWheel::AdvanceScope {
 public:
  explicit AdvanceScope(TimerWheel& w) noexcept : w_(w) { w_.advancing_ = true; }
  ~AdvanceScope() {
    while (TimerEntry* e = w_.lists_[kFiringList].head) {
      w_.unlink(*e);
      w_.link(*e, kPendingList);
      if (e->deadline_ < w_.pending_min_) w_.pending_min_ = e->deadline_;
    }
    w_.advancing_ = false;
  }
  AdvanceScope(const AdvanceScope&) = delete;
  AdvanceScope& operator=(const AdvanceScope&) = delete;

 private:
  TimerWheel& w_;
};

TimerWheel::TimerWheel(std::int64_t now_ms) noexcept
    : cursor_(static_cast<std::uint64_t>(now_ms < 0 ? 0 : now_ms)),
      now_ms_(now_ms < 0 ? 0 : now_ms),
      pending_min_(std::numeric_limits<std::int64_t>::max()) {}

TimerWheel::~TimerWheel() {
  for (List& list : lists_) {
    for (TimerEntry* e = list.head; e != nullptr;) {
      TimerEntry* next = e->next_;
      e->prev_ = e->next_ = nullptr;
      e->wheel_ = nullptr;
      e->list_ = -1;
      e = next;
    }
  }
}

void TimerWheel::link(TimerEntry& e, int list) noexcept {
  List& l = lists_[list];
  e.list_ = list;
  e.next_ = nullptr;
  e.prev_ = l.tail;
  if (l.tail != nullptr) {
    l.tail->next_ = &e;
  } else {
    l.head = &e;
    if (list < kLevel0Slots) {
      level0_bits_[list / 64] |= bit(list % 64);
    } else if (list < kWheelLists) {
      const int upper = list - kLevel0Slots;
      upper_bits_[upper / kUpperSlots] |= bit(upper % kUpperSlots);
    }
  }
  l.tail = &e;
}

void TimerWheel::unlink(TimerEntry& e) noexcept {
  List& l = lists_[e.list_];
  if (e.prev_ != nullptr)
    e.prev_->next_ = e.next_;
  else
    l.head = e.next_;
  if (e.next_ != nullptr)
    e.next_->prev_ = e.prev_;
  else
    l.tail = e.prev_;
  e.prev_ = e.next_ = nullptr;
  if (l.head == nullptr) {
    const int list = e.list_;
    if (list < kLevel0Slots) {
      level0_bits_[list / 64] &= ~bit(list % 64);
    } else if (list < kWheelLists) {
      const int upper = list - kLevel0Slots;
      upper_bits_[upper / kUpperSlots] &= ~bit(upper % kUpperSlots);
    }
  }
  e.list_ = -1;
}

// Detaches a whole list (its entries keep their links to each other).
TimerWheel::List TimerWheel::take(int list) noexcept {
  List taken = lists_[list];
  lists_[list] = List{};
  if (list < kLevel0Slots) {
    level0_bits_[list / 64] &= ~bit(list % 64);
  } else if (list < kWheelLists) {
    const int upper = list - kLevel0Slots;
    upper_bits_[upper / kUpperSlots] &= ~bit(upper % kUpperSlots);
  }
  return taken;
}

void TimerWheel::place(TimerEntry& e) noexcept {
  const std::uint64_t deadline = static_cast<std::uint64_t>(e.deadline_);
  assert(deadline >= cursor_);
  const std::uint64_t block_end = cursor_ | kTopBlockMask;
  const std::uint64_t tick = deadline > block_end ? block_end : deadline;
  const std::uint64_t diff = tick ^ cursor_;
  if (diff < bit(kLevel0Bits)) {
    link(e, static_cast<int>(tick & (kLevel0Slots - 1)));
    return;
  }
  const int top_bit = static_cast<int>(std::bit_width(diff)) - 1;  // 8..31
  const int level = 1 + (top_bit - kLevel0Bits) / kUpperBits;
  const int index = static_cast<int>((tick >> level_shift(level)) & (kUpperSlots - 1));
  link(e, kLevel0Slots + (level - 1) * kUpperSlots + index);
}

bool TimerWheel::earliest(Slot& out) const noexcept {
  for (int w = 0; w < kLevel0Slots / 64; ++w) {
    if (level0_bits_[w] != 0) {
      const int index = w * 64 + std::countr_zero(level0_bits_[w]);
      out = {0, index, (cursor_ & ~std::uint64_t{kLevel0Slots - 1}) | static_cast<unsigned>(index)};
      return true;
    }
  }
  for (int level = 1; level < kLevels; ++level) {
    const std::uint64_t bits = upper_bits_[level - 1];
    if (bits == 0) continue;
    const int index = std::countr_zero(bits);
    const std::uint64_t parent_mask = bit(level_shift(level + 1)) - 1;
    out = {level, index,
           (cursor_ & ~parent_mask) | (static_cast<std::uint64_t>(index) << level_shift(level))};
    return true;
  }
  return false;
}

// Moves the cursor to `to`, which must not pass the start of any occupied
// slot; cascades the slot the cursor enters, if occupied.
void TimerWheel::move_cursor(std::uint64_t to) noexcept {
  cursor_ = to;
  for (int level = kLevels - 1; level >= 1; --level) {
    const int index = static_cast<int>((to >> level_shift(level)) & (kUpperSlots - 1));
    if ((upper_bits_[level - 1] & bit(index)) == 0) continue;
    assert((to & (bit(level_shift(level)) - 1)) == 0);
    List moving = take(kLevel0Slots + (level - 1) * kUpperSlots + index);
    for (TimerEntry* e = moving.head; e != nullptr;) {
      TimerEntry* next = e->next_;
      place(*e);  // lands on a lower level, keeping the list's order
      e = next;
    }
  }
}

// Fires the entries on the firing list, due at `tick`. Popping one at a time
// lets a callback cancel or destroy entries that are still waiting here.
std::size_t TimerWheel::fire_list(std::int64_t tick) {
  std::size_t fired = 0;
  while (TimerEntry* e = lists_[kFiringList].head) {
    unlink(*e);
    if (e->deadline_ > tick) {  // waited for the end of a 2^32 ms block
      place(*e);
      continue;
    }
    e->wheel_ = nullptr;
    --size_;
    ++fired;
    e->on_timer();  // may reschedule e, cancel others, or destroy e's owner
  }
  return fired;
}

void TimerWheel::schedule_at(TimerEntry& e, std::int64_t deadline_ms) noexcept {
  if (e.wheel_ != nullptr && e.wheel_ != this) e.wheel_->cancel(e);
  if (e.wheel_ == this) {
    unlink(e);
  } else {
    e.wheel_ = this;
    ++size_;
  }
  const auto cursor = static_cast<std::int64_t>(cursor_);
  if (deadline_ms > cursor + kMaxDelayMs) deadline_ms = cursor + kMaxDelayMs;
  e.deadline_ = deadline_ms;
  if (deadline_ms < cursor) {
    link(e, kPendingList);
    if (deadline_ms < pending_min_) pending_min_ = deadline_ms;
  } else {
    place(e);
  }
}

void TimerWheel::cancel(TimerEntry& e) noexcept {
  if (e.wheel_ != this) return;
  unlink(e);
  e.wheel_ = nullptr;
  --size_;
}

std::size_t TimerWheel::advance(std::int64_t now_ms) {
  if (advancing_) return 0;  // called from an on_timer(): the outer call continues
  AdvanceScope scope(*this);
  if (now_ms > now_ms_) now_ms_ = now_ms;
  std::size_t fired = 0;

  // Entries scheduled in the past since the last advance. Those scheduled in
  // the past by the callbacks below wait for the next advance.
  if (lists_[kPendingList].head != nullptr) {
    lists_[kFiringList] = take(kPendingList);
    for (TimerEntry* e = lists_[kFiringList].head; e != nullptr; e = e->next_)
      e->list_ = kFiringList;
    pending_min_ = std::numeric_limits<std::int64_t>::max();
    fired += fire_list(static_cast<std::int64_t>(cursor_) - 1);
  }
  if (now_ms < static_cast<std::int64_t>(cursor_)) return fired;

  // Jump from one occupied slot to the next: empty spans cost nothing.
  const auto target = static_cast<std::uint64_t>(now_ms);
  Slot slot{};
  while (earliest(slot) && slot.start <= target) {
    if (slot.level > 0) {
      move_cursor(slot.start);
      continue;
    }
    lists_[kFiringList] = take(slot.index);
    for (TimerEntry* e = lists_[kFiringList].head; e != nullptr; e = e->next_)
      e->list_ = kFiringList;
    move_cursor(slot.start + 1);
    fired += fire_list(static_cast<std::int64_t>(slot.start));
  }
  if (cursor_ <= target) move_cursor(target + 1);
  return fired;
}

std::int64_t TimerWheel::next_deadline_hint() const noexcept {
  if (lists_[kPendingList].head != nullptr) return pending_min_;
  Slot slot{};
  if (!earliest(slot)) return -1;
  return static_cast<std::int64_t>(slot.start);
}

}  // namespace sluice
