#include "sluice/loop/event_loop.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "loop/loop_test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::run_until;

TEST(EventLoop, CurrentIsTheLoopOfTheCallingThread) {
  EXPECT_EQ(EventLoop::current(), nullptr);
  {
    EventLoop loop;
    EXPECT_EQ(EventLoop::current(), &loop);
    EXPECT_TRUE(loop.in_loop_thread());
    std::thread([&] {
      EXPECT_EQ(EventLoop::current(), nullptr);
      EXPECT_FALSE(loop.in_loop_thread());
    }).join();
  }
  EXPECT_EQ(EventLoop::current(), nullptr);
}

TEST(EventLoopDeathTest, SecondLoopOnOneThreadIsAProgramError) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        EventLoop first;
        EventLoop second;
      },
      "second loop");
}

TEST(EventLoop, PostsFromManyThreadsAllRunOnceOnTheLoopThread) {
  constexpr int kThreads = 8;
  constexpr int kPerThread = 10000;
  EventLoop loop;
  int count = 0;  // loop thread only: TSan proves it
  std::atomic<int> wrong_thread{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPerThread; ++i) {
        loop.post([&] {
          if (!loop.in_loop_thread()) wrong_thread.fetch_add(1);
          ++count;
        });
      }
    });
  }
  const bool done = run_until(
      loop, [&] { return count == kThreads * kPerThread; }, 60s);
  for (auto& th : threads) th.join();
  loop.run_once(0ms);
  EXPECT_TRUE(done);
  EXPECT_EQ(count, kThreads * kPerThread);
  EXPECT_EQ(wrong_thread.load(), 0);
}

TEST(EventLoop, PostFromAnotherThreadWakesASleepingLoop) {
  EventLoop loop;
  bool ran = false;
  std::thread poster([&] {
    std::this_thread::sleep_for(20ms);
    loop.post([&] { ran = true; });
  });
  const auto start = Clock::now();
  loop.run_once(10s);  // wakes on the eventfd, not the timeout
  const auto waited = Clock::now() - start;
  poster.join();
  EXPECT_TRUE(ran);
  EXPECT_LT(waited, 5s);
}

TEST(EventLoop, TaskPostedFromATaskRunsInTheNextIteration) {
  EventLoop loop;
  std::vector<std::string> order;
  loop.post([&] {
    order.push_back("first");
    loop.post([&] { order.push_back("second"); });
  });
  loop.run_once(0ms);
  EXPECT_EQ(order, std::vector<std::string>{"first"});
  const auto start = Clock::now();
  loop.run_once(10s);  // must not sleep: a task is waiting
  EXPECT_LT(Clock::now() - start, 5s);
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
}

TEST(EventLoop, RunInLoopRunsAtOnceOnTheLoopThread) {
  EventLoop loop;
  bool ran = false;
  loop.run_in_loop([&] { ran = true; });
  EXPECT_TRUE(ran);
  std::atomic<bool> ran_posted{false};
  std::thread([&] { loop.run_in_loop([&] { ran_posted = true; }); }).join();
  EXPECT_FALSE(ran_posted.load());
  EXPECT_TRUE(run_until(loop, [&] { return ran_posted.load(); }));
}

TEST(EventLoop, StopFromAnotherThreadEndsRun) {
  EventLoop loop;
  // Watchdog: a hung run() fails the test instead of hanging it.
  bool watchdog_fired = false;
  Timer watchdog(loop, [&] {
    watchdog_fired = true;
    loop.stop();
  });
  watchdog.start(20s);
  std::thread stopper([&] {
    std::this_thread::sleep_for(50ms);
    loop.stop();
  });
  loop.run();
  stopper.join();
  EXPECT_FALSE(watchdog_fired);
}

TEST(EventLoop, StopFromInsideACallbackEndsRunAfterTheIteration) {
  EventLoop loop;
  int iterations_after = 0;
  loop.post([&] {
    loop.stop();
    loop.post([&] { ++iterations_after; });
  });
  loop.run();
  EXPECT_EQ(iterations_after, 0);
  // run() can be called again after stop.
  loop.post([&] { loop.stop(); });
  loop.run();
  EXPECT_EQ(iterations_after, 1);
}

// Order of one iteration: timers, then I/O, then posted tasks (including those
// posted by the timers and I/O callbacks of this iteration).
TEST(EventLoop, IterationRunsTimersThenIoThenTasks) {
  EventLoop loop;
  std::vector<std::string> order;
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  IoWatcher w(loop, fds[0], [&](std::uint32_t) {
    order.push_back("io");
    loop.post([&] { order.push_back("task from io"); });
  });
  ASSERT_TRUE(w.enable_read(true));

  struct Entry : TimerEntry {
    std::vector<std::string>* order;
    void on_timer() override { order->push_back("timer"); }
  } entry;
  entry.order = &order;
  loop.timers().schedule_at(entry, loop.timers().now_ms());  // due now

  loop.post([&] { order.push_back("task"); });
  loop.run_once(1s);
  EXPECT_EQ(order, (std::vector<std::string>{"timer", "io", "task", "task from io"}));
  w.close();
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EventLoop, NowIsCachedPerIteration) {
  EventLoop loop;
  const TimePoint before = loop.now();
  std::this_thread::sleep_for(5ms);
  EXPECT_EQ(loop.now(), before);
  loop.run_once(0ms);
  EXPECT_GE(loop.now() - before, 5ms);
  EXPECT_EQ(loop.timers().now_ms(), to_millis(loop.now()));
}

}  // namespace
}  // namespace sluice
