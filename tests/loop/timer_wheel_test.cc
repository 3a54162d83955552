#include "sluice/loop/timer_wheel.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <vector>

namespace sluice {
namespace {

constexpr std::int64_t kSecond = 1000;
constexpr std::int64_t kHour = 3600 * kSecond;
constexpr std::int64_t kDay = 24 * kHour;

// Records when it fired (the wheel's time at the call) and runs an optional
// action.
class Probe : public TimerEntry {
 public:
  explicit Probe(TimerWheel& wheel, std::function<void(Probe&)> action = {})
      : wheel_(wheel), action_(std::move(action)) {}
  void on_timer() override {
    ++fired;
    fired_at = wheel_.now_ms();
    if (log != nullptr) log->push_back(this);
    if (action_) action_(*this);
  }
  int fired = 0;
  std::int64_t fired_at = -1;
  std::vector<Probe*>* log = nullptr;
  TimerWheel& wheel() { return wheel_; }

 private:
  TimerWheel& wheel_;
  std::function<void(Probe&)> action_;
};

TEST(TimerWheel, FiresAtItsDeadlineAndNotBefore) {
  TimerWheel wheel(1000);
  Probe p(wheel);
  wheel.schedule_after(p, 10);
  EXPECT_TRUE(p.scheduled());
  EXPECT_EQ(p.deadline_ms(), 1010);
  EXPECT_EQ(wheel.advance(1009), 0U);
  EXPECT_EQ(p.fired, 0);
  EXPECT_EQ(wheel.advance(1010), 1U);
  EXPECT_EQ(p.fired, 1);
  EXPECT_FALSE(p.scheduled());
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, DeadlineAtConstructionTimeFiresOnFirstAdvance) {
  TimerWheel wheel(0);
  Probe p(wheel);
  wheel.schedule_at(p, 0);
  EXPECT_EQ(wheel.advance(0), 1U);
}

TEST(TimerWheel, PastDeadlineFiresAtNextAdvanceEvenIfTimeStandsStill) {
  TimerWheel wheel(0);
  wheel.advance(100);
  Probe p(wheel);
  wheel.schedule_at(p, 50);
  EXPECT_EQ(wheel.next_deadline_hint(), 50);
  EXPECT_EQ(wheel.advance(100), 1U);
  EXPECT_EQ(p.fired, 1);
}

TEST(TimerWheel, RandomDeadlinesFireInOrderAndNeverEarly) {
  std::mt19937_64 rng(42);
  TimerWheel wheel(0);
  std::vector<Probe*> log;
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 20000; ++i) {
    probes.push_back(std::make_unique<Probe>(wheel));
    probes.back()->log = &log;
    wheel.schedule_at(*probes.back(), static_cast<std::int64_t>(rng() % (1 << 22)));
  }
  std::int64_t now = 0;
  std::int64_t previous = -1;
  while (wheel.size() > 0) {
    previous = now;
    now += static_cast<std::int64_t>(rng() % 3000) + 1;
    const std::size_t before = log.size();
    wheel.advance(now);
    for (std::size_t i = before; i < log.size(); ++i) {
      EXPECT_LE(log[i]->deadline_ms(), now) << "fired early";
      EXPECT_GT(log[i]->deadline_ms(), previous) << "fired late: missed an advance";
    }
  }
  ASSERT_EQ(log.size(), probes.size());
  EXPECT_TRUE(std::is_sorted(log.begin(), log.end(), [](Probe* a, Probe* b) {
    return a->deadline_ms() < b->deadline_ms();
  }));
}

TEST(TimerWheel, SameMillisecondFiresInSchedulingOrder) {
  TimerWheel wheel(0);
  std::vector<Probe*> log;
  std::vector<std::unique_ptr<Probe>> probes;
  // Scheduled from different distances: they reach level 0 by different paths.
  for (int i = 0; i < 6; ++i) {
    probes.push_back(std::make_unique<Probe>(wheel));
    probes.back()->log = &log;
  }
  wheel.schedule_at(*probes[0], 70000);
  wheel.schedule_at(*probes[1], 70000);
  wheel.advance(60000);
  wheel.schedule_at(*probes[2], 70000);
  wheel.advance(69990);
  wheel.schedule_at(*probes[3], 70000);
  wheel.schedule_at(*probes[4], 70000);
  wheel.schedule_at(*probes[5], 70000);
  wheel.schedule_at(*probes[3], 70000);  // rescheduling moves it to the back
  wheel.advance(70000);
  ASSERT_EQ(log.size(), 6U);
  std::vector<Probe*> expected = {probes[0].get(), probes[1].get(), probes[2].get(),
                                  probes[4].get(), probes[5].get(), probes[3].get()};
  EXPECT_EQ(log, expected);
}

TEST(TimerWheel, CancelledEntryDoesNotFire) {
  TimerWheel wheel(0);
  Probe a(wheel);
  Probe b(wheel);
  wheel.schedule_at(a, 300);
  wheel.schedule_at(b, 300);
  wheel.cancel(a);
  wheel.cancel(a);  // idempotent
  EXPECT_FALSE(a.scheduled());
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.advance(1000), 1U);
  EXPECT_EQ(a.fired, 0);
  EXPECT_EQ(b.fired, 1);
}

TEST(TimerWheel, DestroyedEntryUnlinksItself) {
  TimerWheel wheel(0);
  auto p = std::make_unique<Probe>(wheel);
  wheel.schedule_at(*p, 5000);
  p.reset();
  EXPECT_EQ(wheel.size(), 0U);
  EXPECT_EQ(wheel.next_deadline_hint(), -1);
  EXPECT_EQ(wheel.advance(10000), 0U);
}

TEST(TimerWheel, RescheduleLaterMovesTheDeadline) {
  TimerWheel wheel(0);
  Probe p(wheel);
  wheel.schedule_at(p, 100);
  wheel.schedule_at(p, 70000);
  EXPECT_EQ(wheel.size(), 1U);
  EXPECT_EQ(wheel.advance(69999), 0U);
  EXPECT_EQ(wheel.advance(70000), 1U);
  EXPECT_EQ(p.fired_at, 70000);
}

TEST(TimerWheel, RescheduleEarlierMovesTheDeadline) {
  TimerWheel wheel(0);
  Probe p(wheel);
  wheel.schedule_at(p, 5 * kHour);
  wheel.schedule_at(p, 200);
  EXPECT_EQ(wheel.next_deadline_hint(), 200);
  EXPECT_EQ(wheel.advance(199), 0U);
  EXPECT_EQ(wheel.advance(200), 1U);
  EXPECT_EQ(wheel.advance(6 * kHour), 0U);
  EXPECT_EQ(p.fired, 1);
}

// An entry small enough for a million of them.
struct Counted : TimerEntry {
  void on_timer() override {
    ++*fired;
    if (deadline_ms() > *now || deadline_ms() <= *previous) ++*wrong;
    if (deadline_ms() < *last_deadline) ++*wrong;
    *last_deadline = deadline_ms();
  }
  int* fired;
  int* wrong;
  std::int64_t* now;
  std::int64_t* previous;
  std::int64_t* last_deadline;
};

TEST(TimerWheel, OneMillionTimersAllFireInOrder) {
  constexpr int kCount = 1'000'000;
  TimerWheel wheel(0);
  int fired = 0;
  int wrong = 0;
  std::int64_t now = 0;
  std::int64_t previous = -1;
  std::int64_t last_deadline = -1;
  std::vector<Counted> entries(kCount);
  std::mt19937_64 rng(7);
  for (Counted& e : entries) {
    e.fired = &fired;
    e.wrong = &wrong;
    e.now = &now;
    e.previous = &previous;
    e.last_deadline = &last_deadline;
    wheel.schedule_at(e, static_cast<std::int64_t>(rng() % (2 * kHour)) + 1);
  }
  EXPECT_EQ(wheel.size(), static_cast<std::size_t>(kCount));
  while (wheel.size() > 0) {
    previous = now;
    now += 250;
    wheel.advance(now);
  }
  EXPECT_EQ(fired, kCount);
  EXPECT_EQ(wrong, 0);
}

// Deadlines on every level, from several starting points, fire exactly.
TEST(TimerWheel, LongDurationsOnEveryLevelAreExactToTheMillisecond) {
  const std::int64_t delays[] = {1,
                                 2,
                                 255,
                                 256,
                                 257,
                                 16383,
                                 16384,
                                 16385,
                                 65535,
                                 65536,
                                 1048575,
                                 1048576,
                                 16777215,
                                 16777216,
                                 67108864,
                                 kDay,
                                 30 * kDay,
                                 45 * kDay,
                                 TimerWheel::kMaxDelayMs};
  const std::int64_t starts[] = {0, 1, 255, 12345, 16383, 987654321, (std::int64_t{1} << 32) - 3};
  for (std::int64_t start : starts) {
    for (std::int64_t delay : delays) {
      TimerWheel wheel(start);
      Probe p(wheel);
      wheel.schedule_after(p, delay);
      ASSERT_EQ(p.deadline_ms(), start + delay);
      EXPECT_EQ(wheel.advance(start + delay - 1), 0U) << start << " + " << delay;
      EXPECT_EQ(wheel.advance(start + delay), 1U) << start << " + " << delay;
      EXPECT_EQ(p.fired_at, start + delay);
    }
  }
}

// The same, with the loop's usage: advance only to the hint, many times.
TEST(TimerWheel, FollowingTheHintReachesTheDeadlineInFewSteps) {
  const std::int64_t delays[] = {1, 256, 65536, 16777216, kDay, 30 * kDay};
  for (std::int64_t delay : delays) {
    TimerWheel wheel(5);
    Probe p(wheel);
    wheel.schedule_after(p, delay);
    int steps = 0;
    while (p.fired == 0 && steps < 100) {
      const std::int64_t hint = wheel.next_deadline_hint();
      ASSERT_GE(hint, 0);
      ASSERT_LE(hint, p.deadline_ms()) << "hint later than the deadline";
      wheel.advance(hint);
      ++steps;
    }
    EXPECT_EQ(p.fired_at, 5 + delay);
    EXPECT_LE(steps, 6) << delay;
  }
}

TEST(TimerWheel, DeadlinesBeyondTheTopLevelAreClamped) {
  TimerWheel wheel(1000);
  Probe p(wheel);
  wheel.schedule_after(p, 100 * kDay);
  EXPECT_EQ(p.deadline_ms(), 1000 + TimerWheel::kMaxDelayMs);
  Probe q(wheel);
  wheel.schedule_at(q, INT64_MAX);
  EXPECT_EQ(q.deadline_ms(), 1000 + TimerWheel::kMaxDelayMs);
  wheel.schedule_after(q, INT64_MAX);  // no overflow
  EXPECT_EQ(q.deadline_ms(), 1000 + TimerWheel::kMaxDelayMs);
  EXPECT_EQ(wheel.advance(1000 + TimerWheel::kMaxDelayMs - 1), 0U);
  EXPECT_EQ(wheel.advance(1000 + TimerWheel::kMaxDelayMs), 2U);
}

TEST(TimerWheel, CrossingTheTopBlockBoundaryKeepsDeadlinesExact) {
  const std::int64_t boundary = std::int64_t{1} << 32;
  TimerWheel wheel(boundary - 10);
  Probe a(wheel);
  Probe b(wheel);
  Probe c(wheel);
  wheel.schedule_after(a, 5);   // before the boundary
  wheel.schedule_after(b, 20);  // just after it
  wheel.schedule_after(c, 3 * kDay);
  std::int64_t now = boundary - 10;
  while (wheel.size() > 0) {
    const std::int64_t hint = wheel.next_deadline_hint();
    ASSERT_GT(hint, now - 1);
    now = hint;
    wheel.advance(now);
  }
  EXPECT_EQ(a.fired_at, boundary - 5);
  EXPECT_EQ(b.fired_at, boundary + 10);
  EXPECT_EQ(c.fired_at, boundary - 10 + 3 * kDay);
}

TEST(TimerWheel, EntryReschedulingItselfFiresPeriodically) {
  TimerWheel wheel(0);
  std::vector<std::int64_t> times;
  Probe p(wheel, [&](Probe& self) {
    times.push_back(self.fired_at);
    if (times.size() < 100) self.wheel().schedule_at(self, self.deadline_ms() + 10);
  });
  wheel.schedule_at(p, 10);
  EXPECT_EQ(wheel.advance(100000), 100U);  // one call, many firings
  ASSERT_EQ(times.size(), 100U);
  for (std::size_t i = 0; i < times.size(); ++i) {
    EXPECT_EQ(times[i], 100000);  // the wheel reports the advance's time
  }
  EXPECT_EQ(p.deadline_ms(), 1000);
}

// A deadline not after the tick being fired waits for the next advance, so an
// entry rescheduling itself with no delay cannot spin inside one advance.
TEST(TimerWheel, ZeroDelayRescheduleInsideCallbackWaitsForNextAdvance) {
  TimerWheel wheel(0);
  Probe p(wheel, [](Probe& self) { self.wheel().schedule_after(self, 0); });
  wheel.schedule_at(p, 5);
  EXPECT_EQ(wheel.advance(5), 1U);
  EXPECT_TRUE(p.scheduled());
  EXPECT_EQ(wheel.advance(5), 1U);  // time stood still: fired once more
  // Due at 5 (fires first), rescheduled for 6 while advancing to 6: fires
  // again in the same call, at its own tick, then waits.
  EXPECT_EQ(wheel.advance(6), 2U);
  EXPECT_EQ(wheel.advance(6), 1U);
  EXPECT_EQ(p.fired, 5);
  wheel.cancel(p);
}

TEST(TimerWheel, DestroyingAnotherEntryDueInTheSameTickIsSafe) {
  TimerWheel wheel(0);
  std::unique_ptr<Probe> victim;
  Probe killer(wheel, [&](Probe&) { victim.reset(); });
  victim = std::make_unique<Probe>(wheel);
  int victim_fired = 0;
  wheel.schedule_at(killer, 40);
  wheel.schedule_at(*victim, 40);
  Probe after(wheel, [&](Probe&) { victim_fired = victim ? victim->fired : -1; });
  wheel.schedule_at(after, 41);
  EXPECT_EQ(wheel.advance(100), 2U);
  EXPECT_EQ(killer.fired, 1);
  EXPECT_EQ(victim_fired, -1);
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, CancellingAnotherEntryDueLaterInTheSameAdvanceIsSafe) {
  TimerWheel wheel(0);
  Probe victim(wheel);
  Probe canceller(wheel, [&](Probe&) { wheel.cancel(victim); });
  wheel.schedule_at(canceller, 10);
  wheel.schedule_at(victim, 20000);
  EXPECT_EQ(wheel.advance(30000), 1U);
  EXPECT_EQ(victim.fired, 0);
}

class SelfDeleting : public TimerEntry {
 public:
  explicit SelfDeleting(int& count) : count_(count) {}
  void on_timer() override {
    ++count_;
    delete this;
  }

 private:
  int& count_;
};

TEST(TimerWheel, EntryMayDestroyItsOwnerInsideOnTimer) {
  TimerWheel wheel(0);
  int count = 0;
  for (int i = 0; i < 10; ++i) wheel.schedule_at(*new SelfDeleting(count), 7);
  EXPECT_EQ(wheel.advance(7), 10U);
  EXPECT_EQ(count, 10);
  EXPECT_EQ(wheel.size(), 0U);
}

TEST(TimerWheel, NextDeadlineHintIsExactOnLevelZeroAndNeverLate) {
  TimerWheel wheel(1024);  // level 0 covers [1024, 1280)
  EXPECT_EQ(wheel.next_deadline_hint(), -1);
  Probe far(wheel);
  wheel.schedule_at(far, 1000 + 5 * kHour + 17);
  const std::int64_t far_hint = wheel.next_deadline_hint();
  EXPECT_GE(far_hint, 1024);
  EXPECT_LE(far_hint, far.deadline_ms());
  Probe near(wheel);
  wheel.schedule_at(near, 1100);
  EXPECT_EQ(wheel.next_deadline_hint(), 1100);
  wheel.cancel(near);
  EXPECT_EQ(wheel.next_deadline_hint(), far_hint);
  wheel.cancel(far);
  EXPECT_EQ(wheel.next_deadline_hint(), -1);
}

TEST(TimerWheel, AdvanceOverLongGapsSkipsEmptySpans) {
  // A wheel that stepped through every millisecond would need billions of
  // steps here; the bound is loose on purpose (sanitizers, shared machines).
  TimerWheel wheel(0);
  std::mt19937_64 rng(3);
  std::vector<std::unique_ptr<Probe>> probes;
  for (int i = 0; i < 1000; ++i) {
    probes.push_back(std::make_unique<Probe>(wheel));
    wheel.schedule_at(*probes.back(), static_cast<std::int64_t>(rng() % kDay) + 1);
  }
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(wheel.advance(kDay), 1000U);
  for (std::int64_t day = 2; day < 2000; ++day) wheel.advance(day * kDay);  // empty wheel
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(5));
  for (auto& p : probes) EXPECT_EQ(p->fired, 1);
}

TEST(TimerWheel, TimeGoingBackwardsFiresNothingNew) {
  TimerWheel wheel(0);
  wheel.advance(500);
  Probe p(wheel);
  wheel.schedule_at(p, 600);
  EXPECT_EQ(wheel.advance(100), 0U);
  EXPECT_EQ(wheel.now_ms(), 500);
  EXPECT_EQ(wheel.advance(600), 1U);
}

TEST(TimerWheel, DestroyingTheWheelUnschedulesItsEntries) {
  Probe* raw = nullptr;
  auto wheel = std::make_unique<TimerWheel>(0);
  auto p = std::make_unique<Probe>(*wheel);
  raw = p.get();
  wheel->schedule_at(*raw, 10);
  wheel.reset();
  EXPECT_FALSE(raw->scheduled());
}

TEST(TimerWheel, MovingAnEntryBetweenWheelsLeavesTheFirst) {
  TimerWheel a(0);
  TimerWheel b(0);
  Probe p(a);
  a.schedule_at(p, 10);
  b.schedule_at(p, 20);
  EXPECT_EQ(a.size(), 0U);
  EXPECT_EQ(b.size(), 1U);
  EXPECT_EQ(a.advance(100), 0U);
  EXPECT_EQ(b.advance(100), 1U);
}

}  // namespace
}  // namespace sluice
