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
// Close a watcher before closing its descriptor, and destroy watchers and
// timers before their loop.
#pragma once

#include <signal.h>
#include <sys/epoll.h>

#include <atomic>
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
  // In a child after fork(): forgets the parent's loop on this thread, so the
  // child can construct its own. The parent's loop object must not be run in
  // the child (its epoll set is shared with the parent).
  static void forget_after_fork() noexcept;

  // Internals for IoWatcher.
  Status add_watcher(IoWatcher& w, std::uint32_t events);
  Status modify_watcher(IoWatcher& w, std::uint32_t events);
  void remove_watcher(IoWatcher& w) noexcept;

 private:
  void iterate(int timeout_ms);
  int wait_timeout(int requested_ms);
  void expire_timers();
  void dispatch(int count);
  void run_tasks();
  void wake() noexcept;
  void drain_fd(int fd) noexcept;

  std::thread::id owner_;
  TimePoint now_;
  TimerWheel wheel_;

  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;            // eventfd: post() from other threads
  UniqueFd timer_fd_;           // timerfd: armed to the wheel's earliest deadline
  std::int64_t armed_ms_ = -1;  // what timer_fd_ is armed to, -1 when disarmed

  std::vector<epoll_event> events_;
  // events_ (dispatch_pos_, ready_count_) are collected and not yet dispatched.
  int ready_count_ = 0;
  int dispatch_pos_ = -1;

  std::atomic<bool> stop_{false};
  std::mutex tasks_mutex_;
  std::vector<Task> tasks_;          // guarded by tasks_mutex_
  std::vector<Task> running_tasks_;  // loop thread only
  bool posted_in_loop_ = false;      // a task was queued without a wake-up
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
  Status update(std::uint32_t interest);

  EventLoop* loop_;
  int fd_;
  Callback cb_;
  bool edge_;
  std::uint32_t interest_ = 0;  // EPOLLIN | EPOLLOUT subset
  bool registered_ = false;     // added to the epoll set
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

  // False when the signalfd could not be created (the error was logged).
  bool valid() const noexcept { return fd_.valid(); }

 private:
  void on_readable();

  sigset_t mask_;
  sigset_t unblock_on_exit_;  // the signals that were not blocked before
  UniqueFd fd_;
  Callback cb_;
  IoWatcher watcher_;
};

// A timer owned by the caller, on a loop's wheel. One-shot or repeating.
// Destroying it cancels it. `after` counts from the call (the clock is read,
// not the loop's cached now()), rounded up to the next millisecond, so a timer
// never fires early; a repeating timer is rescheduled `repeat` after each
// firing, before its callback runs (the callback may cancel or destroy it).
// Loop thread only.
class Timer {
 public:
  using Callback = std::function<void()>;
  Timer(EventLoop& loop, Callback cb);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  void start(Duration after, Duration repeat = Duration::zero());
  void cancel() noexcept;
  bool active() const noexcept;

 private:
  struct Entry final : TimerEntry {
    explicit Entry(Timer& t) noexcept : timer(t) {}
    void on_timer() override { timer.fire(); }
    Timer& timer;
  };
  void fire();

  EventLoop* loop_;
  Callback cb_;
  Duration repeat_ = Duration::zero();
  Entry entry_;
};

// Ignores SIGPIPE process-wide, so a write to a closed socket returns EPIPE
// instead of killing the process. For programs; the library never calls it.
Status ignore_sigpipe() noexcept;

}  // namespace sluice
