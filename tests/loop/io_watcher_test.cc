#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>

#include "loop/loop_test_util.h"
#include "sluice/base/unique_fd.h"
#include "sluice/loop/event_loop.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;
using test::run_until;

struct Pipe {
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_end.reset(fds[0]);
      write_end.reset(fds[1]);
    }
  }
  void put(const char* s = "x") const { ASSERT_EQ(::write(write_end.get(), s, 1), 1); }
  UniqueFd read_end;
  UniqueFd write_end;
};

TEST(IoWatcher, LevelTriggeredFiresAgainWhileDataRemains) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  IoWatcher w(loop, p.read_end.get(), [&](std::uint32_t ev) {
    EXPECT_TRUE(ev & EPOLLIN);
    ++calls;
  });
  ASSERT_TRUE(w.enable_read(true));
  p.put();
  for (int i = 0; i < 3; ++i) loop.run_once(1s);
  EXPECT_EQ(calls, 3);  // nothing was read
}

TEST(IoWatcher, EdgeTriggeredFiresOncePerArrival) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  IoWatcher w(
      loop, p.read_end.get(), [&](std::uint32_t) { ++calls; }, /*edge_triggered=*/true);
  EXPECT_TRUE(w.edge_triggered());
  ASSERT_TRUE(w.enable_read(true));
  p.put();
  loop.run_once(1s);
  EXPECT_EQ(calls, 1);
  loop.run_once(20ms);
  loop.run_once(20ms);
  EXPECT_EQ(calls, 1);  // the data is still there, but nothing new arrived
  p.put();
  loop.run_once(1s);
  EXPECT_EQ(calls, 2);
}

TEST(IoWatcher, NoEventsUntilEnabledAndAfterDisabled) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  IoWatcher w(loop, p.read_end.get(), [&](std::uint32_t) { ++calls; });
  p.put();
  loop.run_once(20ms);
  EXPECT_EQ(calls, 0);  // registered lazily, on the first enable
  ASSERT_TRUE(w.enable_read(true));
  EXPECT_TRUE(w.reading());
  loop.run_once(1s);
  EXPECT_EQ(calls, 1);
  ASSERT_TRUE(w.enable_read(false));
  EXPECT_FALSE(w.reading());
  loop.run_once(20ms);
  EXPECT_EQ(calls, 1);
}

TEST(IoWatcher, WriteInterestReportsWritableUntilDisabled) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]);
  UniqueFd b(sv[1]);
  int writable = 0;
  IoWatcher w(loop, a.get(), [&](std::uint32_t ev) {
    if (ev & EPOLLOUT) ++writable;
  });
  ASSERT_TRUE(w.enable_write(true));
  ASSERT_TRUE(w.enable_write(true));  // no change, no error
  EXPECT_TRUE(w.writing());
  loop.run_once(1s);
  EXPECT_EQ(writable, 1);
  ASSERT_TRUE(w.enable_read(true));
  ASSERT_TRUE(w.enable_write(false));
  loop.run_once(20ms);
  EXPECT_EQ(writable, 1);
}

TEST(IoWatcher, PeerCloseIsReportedAsRdhup) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]);
  UniqueFd b(sv[1]);
  std::uint32_t seen = 0;
  IoWatcher w(loop, a.get(), [&](std::uint32_t ev) { seen |= ev; });
  ASSERT_TRUE(w.enable_read(true));
  b.reset();
  EXPECT_TRUE(run_until(loop, [&] { return seen != 0; }));
  EXPECT_TRUE(seen & EPOLLRDHUP);
}

TEST(IoWatcher, EnableOnABadDescriptorReturnsAnError) {
  EventLoop loop;
  IoWatcher w(loop, 1 << 20, [](std::uint32_t) {});
  Status st = w.enable_read(true);
  EXPECT_FALSE(st);
  EXPECT_EQ(st.error(), std::errc::bad_file_descriptor);
  EXPECT_FALSE(w.reading());
}

TEST(IoWatcher, DestroyingItselfInsideItsCallbackIsSafe) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  std::unique_ptr<IoWatcher> w;
  w = std::make_unique<IoWatcher>(loop, p.read_end.get(), [&](std::uint32_t) {
    ++calls;
    w.reset();  // destroys the object running this callback's owner
  });
  ASSERT_TRUE(w->enable_read(true));
  p.put();
  loop.run_once(1s);
  loop.run_once(20ms);
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(w, nullptr);
}

// Two watchers ready in the same epoll batch: whichever runs first destroys
// the other, whose collected event must be dropped (ASan catches a use).
TEST(IoWatcher, DestroyingAnotherWatcherReadyInTheSameBatchDropsItsEvent) {
  EventLoop loop;
  Pipe p1;
  Pipe p2;
  std::unique_ptr<IoWatcher> w1;
  std::unique_ptr<IoWatcher> w2;
  int calls = 0;
  w1 = std::make_unique<IoWatcher>(loop, p1.read_end.get(), [&](std::uint32_t) {
    ++calls;
    w2.reset();
  });
  w2 = std::make_unique<IoWatcher>(loop, p2.read_end.get(), [&](std::uint32_t) {
    ++calls;
    w1.reset();
  });
  ASSERT_TRUE(w1->enable_read(true));
  ASSERT_TRUE(w2->enable_read(true));
  p1.put();
  p2.put();
  loop.run_once(1s);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE((w1 == nullptr) != (w2 == nullptr));
}

TEST(IoWatcher, ClosingAnotherWatcherReadyInTheSameBatchDropsItsEvent) {
  EventLoop loop;
  Pipe p1;
  Pipe p2;
  int calls1 = 0;
  int calls2 = 0;
  IoWatcher* w2_ptr = nullptr;
  IoWatcher* w1_ptr = nullptr;
  IoWatcher w1(loop, p1.read_end.get(), [&](std::uint32_t) {
    ++calls1;
    w2_ptr->close();
  });
  IoWatcher w2(loop, p2.read_end.get(), [&](std::uint32_t) {
    ++calls2;
    w1_ptr->close();
  });
  w1_ptr = &w1;
  w2_ptr = &w2;
  ASSERT_TRUE(w1.enable_read(true));
  ASSERT_TRUE(w2.enable_read(true));
  p1.put();
  p2.put();
  loop.run_once(1s);
  EXPECT_EQ(calls1 + calls2, 1);
  EXPECT_FALSE(w1.reading() && w2.reading());
}

TEST(IoWatcher, DestroyedByATimerInTheSameIterationGetsNoEvent) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  auto w = std::make_unique<IoWatcher>(loop, p.read_end.get(), [&](std::uint32_t) { ++calls; });
  ASSERT_TRUE(w->enable_read(true));
  struct Killer : TimerEntry {
    std::unique_ptr<IoWatcher>* target;
    void on_timer() override { target->reset(); }
  } killer;
  killer.target = &w;
  p.put();
  loop.timers().schedule_at(killer, loop.timers().now_ms());  // due in step 3
  loop.run_once(1s);
  EXPECT_EQ(w, nullptr);
  EXPECT_EQ(calls, 0);
}

TEST(IoWatcher, CloseIsIdempotentAndReenableWorks) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  IoWatcher w(loop, p.read_end.get(), [&](std::uint32_t) { ++calls; });
  ASSERT_TRUE(w.enable_read(true));
  w.close();
  w.close();
  EXPECT_FALSE(w.reading());
  p.put();
  loop.run_once(20ms);
  EXPECT_EQ(calls, 0);
  ASSERT_TRUE(w.enable_read(true));
  loop.run_once(1s);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sluice
