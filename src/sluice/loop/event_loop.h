// EventLoop: one epoll reactor per thread.
//
// One loop per thread, asserted: constructing a second loop on a thread is a
// program error. Everything that touches a loop's watchers runs on its thread;
// other threads hand work over with post(), which wakes the loop through an
// eventfd. stop() is callable from any thread.
//
// Order of one iteration (documented contract):
//   1. epoll_wait, with a timeout up to the next timer deadline;
//   2. refresh the cached clock (now());
//   3. expire due timers (in deadline order within a wheel tick);
//   4. dispatch I/O events in the order epoll returned them;
//   5. run the tasks posted before step 5 began (tasks posted by these tasks
//      run in the next iteration, so a task that re-posts itself cannot
//      starve I/O).
//
// Watchers may be closed or destroyed from inside any callback, including
// their own: events already collected for a closed watcher are dropped.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "sluice/base/clock.h"
#include "sluice/base/error.h"
#include "sluice/base/unique_fd.h"
#include "sluice/loop/timer_wheel.h"

namespace sluice {

class IoWatcher;

class EventLoop {
 public:
  using Task = std::function<void()>;

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs until stop(). Must be called on the thread that constructed the loop.
  void run();
  // One iteration, waiting at most `max_wait` (for tests and embedding).
  void run_once(Duration max_wait);
  // Thread-safe. The loop finishes its current iteration and run() returns.
  void stop();

  // Thread-safe. `task` runs on the loop's thread (step 5 of an iteration).
  void post(Task task);
  // Runs `task` now when called on the loop's thread, else posts it.
  void run_in_loop(Task task);

  bool in_loop_thread() const noexcept { return std::this_thread::get_id() == owner_; }
  void assert_in_loop_thread() const;  // aborts: a program error, not input

  // The clock cached at the start of this iteration's dispatch.
  TimePoint now() const noexcept { return now_; }
  TimerWheel& timers() noexcept { return wheel_; }

  // The loop of the calling thread, or nullptr.
  static EventLoop* current() noexcept;

  // Internals for IoWatcher.
  Status add_watcher(IoWatcher& w, std::uint32_t events);
  Status modify_watcher(IoWatcher& w, std::uint32_t events);
  void remove_watcher(IoWatcher& w) noexcept;

 private:
  // private members are the implementer's choice
  std::thread::id owner_;
  TimePoint now_;
  TimerWheel wheel_;
};

// Watches one descriptor for readability/writability. Does not own the fd.
// Level-triggered by default; edge-triggered on request.
class IoWatcher {
 public:
  // `events` is the subset of EPOLLIN/EPOLLOUT/EPOLLRDHUP/EPOLLERR/EPOLLHUP
  // that happened.
  using Callback = std::function<void(std::uint32_t events)>;

  IoWatcher(EventLoop& loop, int fd, Callback cb, bool edge_triggered = false);
  ~IoWatcher();  // close()
  IoWatcher(const IoWatcher&) = delete;
  IoWatcher& operator=(const IoWatcher&) = delete;

  Status enable_read(bool on);
  Status enable_write(bool on);
  bool reading() const noexcept;
  bool writing() const noexcept;
  bool edge_triggered() const noexcept { return edge_; }
  int fd() const noexcept { return fd_; }
  EventLoop& loop() const noexcept { return *loop_; }
  // Unregisters; safe inside any callback. Idempotent.
  void close() noexcept;

 private:
  friend class EventLoop;
  // private members are the implementer's choice
  EventLoop* loop_;
  int fd_;
  Callback cb_;
  bool edge_;
};

// Delivers signals through a signalfd on the loop. The signals are blocked in
// the calling thread's mask (block them in every thread, e.g. before starting
// threads, for process-directed signals to reach the signalfd).
class SignalWatcher {
 public:
  using Callback = std::function<void(int signo)>;
  SignalWatcher(EventLoop& loop, std::vector<int> signals, Callback cb);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  // private members are the implementer's choice
};

// A timer owned by the caller, on a loop's wheel. One-shot or repeating.
// Destroying it cancels it.
class Timer {
 public:
  using Callback = std::function<void()>;
  Timer(EventLoop& loop, Callback cb);
  ~Timer();
  void start(Duration after, Duration repeat = Duration::zero());
  void cancel() noexcept;
  bool active() const noexcept;

 private:
  // private members are the implementer's choice
};

}  // namespace sluice
