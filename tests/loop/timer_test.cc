#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include "loop/loop_test_util.h"
#include "sluice/loop/event_loop.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::run_for;
using test::run_until;

TEST(Timer, OneShotFiresOnceAndNeverEarly) {
  EventLoop loop;
  int fired = 0;
  TimePoint fired_at;
  Timer t(loop, [&] {
    ++fired;
    fired_at = Clock::now();
  });
  const TimePoint start = Clock::now();
  t.start(30ms);
  EXPECT_TRUE(t.active());
  EXPECT_TRUE(run_until(loop, [&] { return fired > 0; }));
  EXPECT_GE(fired_at - start, 30ms);
  EXPECT_FALSE(t.active());
  run_for(loop, 50ms);
  EXPECT_EQ(fired, 1);
}

TEST(Timer, RepeatingFiresUntilCancelledFromItsCallback) {
  EventLoop loop;
  int fired = 0;
  Timer* self = nullptr;
  Timer t(loop, [&] {
    if (++fired == 5) self->cancel();
  });
  self = &t;
  const TimePoint start = Clock::now();
  t.start(5ms, 5ms);
  EXPECT_TRUE(run_until(loop, [&] { return fired == 5; }));
  EXPECT_GE(Clock::now() - start, 25ms);
  EXPECT_FALSE(t.active());
  run_for(loop, 30ms);
  EXPECT_EQ(fired, 5);
}

TEST(Timer, CancelledTimerDoesNotFire) {
  EventLoop loop;
  int fired = 0;
  Timer t(loop, [&] { ++fired; });
  t.start(10ms);
  t.cancel();
  t.cancel();
  EXPECT_FALSE(t.active());
  run_for(loop, 50ms);
  EXPECT_EQ(fired, 0);
}

TEST(Timer, RestartingLaterMovesTheDeadline) {
  EventLoop loop;
  TimePoint fired_at;
  bool fired = false;
  Timer t(loop, [&] {
    fired = true;
    fired_at = Clock::now();
  });
  const TimePoint start = Clock::now();
  t.start(10ms);
  t.start(80ms);  // the timerfd stays armed for 10 ms: an early wake-up only
  EXPECT_TRUE(run_until(loop, [&] { return fired; }));
  EXPECT_GE(fired_at - start, 80ms);
}

TEST(Timer, RestartingEarlierMovesTheDeadline) {
  EventLoop loop;
  bool fired = false;
  Timer t(loop, [&] { fired = true; });
  t.start(1h);
  loop.run_once(0ms);  // arms the timerfd for the hour
  const TimePoint start = Clock::now();
  t.start(20ms);
  // Each wait below would last 10 s unless the timerfd was re-armed earlier.
  // A wake-up may come at the start of a higher wheel slot, before the
  // deadline: allow a few iterations.
  for (int i = 0; i < 5 && !fired; ++i) loop.run_once(10s);
  EXPECT_TRUE(fired);
  EXPECT_LT(Clock::now() - start, 5s);
}

TEST(Timer, DestroyedInsideItsOwnCallbackIsSafe) {
  EventLoop loop;
  int fired = 0;
  std::unique_ptr<Timer> t;
  t = std::make_unique<Timer>(loop, [&] {
    ++fired;
    t.reset();
  });
  t->start(1ms, 1ms);
  EXPECT_TRUE(run_until(loop, [&] { return t == nullptr; }));
  run_for(loop, 20ms);
  EXPECT_EQ(fired, 1);
}

TEST(Timer, DestroyingATimerCancelsIt) {
  EventLoop loop;
  int fired = 0;
  {
    Timer t(loop, [&] { ++fired; });
    t.start(5ms);
  }
  EXPECT_EQ(loop.timers().size(), 0U);
  run_for(loop, 30ms);
  EXPECT_EQ(fired, 0);
}

TEST(Timer, ManyTimersFireInDeadlineOrder) {
  EventLoop loop;
  std::vector<int> order;
  std::vector<std::unique_ptr<Timer>> timers;
  for (int i = 5; i >= 1; --i) {
    timers.push_back(std::make_unique<Timer>(loop, [&order, i] { order.push_back(i); }));
    timers.back()->start(std::chrono::milliseconds(i * 10));
  }
  EXPECT_TRUE(run_until(loop, [&] { return order.size() == 5; }));
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace sluice
