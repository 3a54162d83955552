#include <gtest/gtest.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <vector>

#include "loop/loop_test_util.h"
#include "sluice/loop/event_loop.h"

namespace sluice {
namespace {

using test::run_until;

bool blocked(int signo) {
  sigset_t mask;
  pthread_sigmask(SIG_SETMASK, nullptr, &mask);
  return sigismember(&mask, signo) == 1;
}

TEST(SignalWatcher, RaisedSignalIsDeliveredOnTheLoop) {
  EventLoop loop;
  std::vector<int> got;
  SignalWatcher sw(loop, {SIGUSR1}, [&](int signo) { got.push_back(signo); });
  ASSERT_TRUE(sw.valid());
  EXPECT_TRUE(blocked(SIGUSR1));
  ASSERT_EQ(::raise(SIGUSR1), 0);
  EXPECT_TRUE(run_until(loop, [&] { return !got.empty(); }));
  EXPECT_EQ(got, std::vector<int>{SIGUSR1});
}

TEST(SignalWatcher, ProcessDirectedSignalIsDeliveredOnTheLoop) {
  EventLoop loop;
  std::vector<int> got;
  SignalWatcher sw(loop, {SIGUSR2}, [&](int signo) { got.push_back(signo); });
  ASSERT_EQ(::kill(::getpid(), SIGUSR2), 0);
  EXPECT_TRUE(run_until(loop, [&] { return !got.empty(); }));
  EXPECT_EQ(got, std::vector<int>{SIGUSR2});
}

TEST(SignalWatcher, AllPendingSignalsAreReadInOneEvent) {
  EventLoop loop;
  std::vector<int> got;
  SignalWatcher sw(loop, {SIGUSR1, SIGUSR2, SIGHUP}, [&](int signo) { got.push_back(signo); });
  ASSERT_EQ(::raise(SIGUSR1), 0);
  ASSERT_EQ(::raise(SIGUSR2), 0);
  ASSERT_EQ(::raise(SIGHUP), 0);
  loop.run_once(std::chrono::seconds(1));
  EXPECT_EQ(got.size(), 3U);
}

TEST(SignalWatcher, DestructionRestoresTheSignalMask) {
  EventLoop loop;
  sigset_t term;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(pthread_sigmask(SIG_BLOCK, &term, nullptr), 0);  // blocked by the program
  {
    SignalWatcher sw(loop, {SIGUSR1, SIGTERM}, [](int) {});
    EXPECT_TRUE(blocked(SIGUSR1));
    EXPECT_TRUE(blocked(SIGTERM));
  }
  EXPECT_FALSE(blocked(SIGUSR1));
  EXPECT_TRUE(blocked(SIGTERM));  // was blocked before: stays blocked
  pthread_sigmask(SIG_UNBLOCK, &term, nullptr);
}

TEST(SignalWatcher, IgnoreSigpipeMakesWritesReturnEpipe) {
  ASSERT_TRUE(ignore_sigpipe());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  ::close(fds[0]);
  EXPECT_EQ(::write(fds[1], "x", 1), -1);
  EXPECT_EQ(errno, EPIPE);
  ::close(fds[1]);
}

}  // namespace
}  // namespace sluice
