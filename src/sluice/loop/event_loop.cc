// EventLoop: epoll, the timer wheel behind a timerfd, and the task queue.
#include "sluice/loop/event_loop.h"

#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <utility>

#include "sluice/base/log.h"

namespace sluice {
namespace {

thread_local EventLoop* t_current_loop = nullptr;

constexpr std::size_t kInitialEvents = 64;
constexpr std::size_t kMaxEvents = 4096;

// epoll_event.data of the loop's own descriptors: addresses no watcher has.
char g_wake_tag;
char g_timer_tag;

[[noreturn]] void die(const char* what) noexcept {
  SLUICE_LOG(kError, "EventLoop: %s", what);
  std::abort();
}

int duration_to_timeout_ms(Duration d) {
  if (d < Duration::zero()) return -1;
  const auto ms = std::chrono::ceil<Millis>(d).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 1 << 30));
}

}  // namespace

EventLoop::EventLoop()
    : owner_(std::this_thread::get_id()),
      now_(Clock::now()),
      wheel_(to_millis(now_)),
      epoll_fd_(::epoll_create1(EPOLL_CLOEXEC)),
      wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
      timer_fd_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)),
      events_(kInitialEvents) {
  // Failing here means the process is out of descriptors or memory before it
  // could start; there is no loop to report to.
  if (t_current_loop != nullptr) die("a second loop on one thread");
  if (!epoll_fd_ || !wake_fd_ || !timer_fd_) die("cannot create epoll/eventfd/timerfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = &g_wake_tag;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, wake_fd_.get(), &ev) != 0) die("epoll_ctl");
  ev.data.ptr = &g_timer_tag;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, timer_fd_.get(), &ev) != 0) die("epoll_ctl");
  t_current_loop = this;
}

EventLoop::~EventLoop() {
  if (t_current_loop == this) t_current_loop = nullptr;
}

EventLoop* EventLoop::current() noexcept { return t_current_loop; }

void EventLoop::forget_after_fork() noexcept { t_current_loop = nullptr; }

void EventLoop::assert_in_loop_thread() const {
  if (!in_loop_thread()) die("used from a thread that is not the loop's");
}

void EventLoop::run() {
  assert_in_loop_thread();
  while (!stop_.load(std::memory_order_acquire)) iterate(-1);
  stop_.store(false, std::memory_order_relaxed);
}

void EventLoop::run_once(Duration max_wait) {
  assert_in_loop_thread();
  iterate(duration_to_timeout_ms(max_wait));
}

void EventLoop::stop() {
  stop_.store(true, std::memory_order_release);
  if (!in_loop_thread()) wake();
}

void EventLoop::post(Task task) {
  bool was_empty = false;
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    was_empty = tasks_.empty();
    tasks_.push_back(std::move(task));
  }
  // Only the post that makes the queue non-empty wakes the loop: later ones
  // find it already woken (or about to swap the queue out). On the loop's
  // own thread no wake-up is needed: the next wait does not block.
  if (!was_empty) return;
  if (in_loop_thread())
    posted_in_loop_ = true;
  else
    wake();
}

void EventLoop::run_in_loop(Task task) {
  if (in_loop_thread())
    task();
  else
    post(std::move(task));
}

void EventLoop::wake() noexcept {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  ssize_t n = ::write(wake_fd_.get(), &one, sizeof one);
  (void)n;
}

void EventLoop::drain_fd(int fd) noexcept {
  std::uint64_t value = 0;
  ssize_t n = ::read(fd, &value, sizeof value);
  (void)n;
}

// The epoll_wait timeout: 0 when work is already due, else the caller's.
// Arms the timerfd when the wheel's earliest deadline moved before what is
// armed; a later deadline does not re-arm (the early wake-up is cheaper than
// a timerfd_settime per refreshed idle timeout).
int EventLoop::wait_timeout(int requested_ms) {
  if (posted_in_loop_) return 0;
  const std::int64_t hint = wheel_.next_deadline_hint();
  if (hint < 0) return requested_ms;
  if (hint <= wheel_.now_ms()) return 0;
  if (armed_ms_ < 0 || hint < armed_ms_) {
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(hint / 1000);
    spec.it_value.tv_nsec = static_cast<long>(hint % 1000) * 1'000'000L;
    if (::timerfd_settime(timer_fd_.get(), TFD_TIMER_ABSTIME, &spec, nullptr) == 0) {
      armed_ms_ = hint;
    } else {
      SLUICE_LOG_EVERY_MS(kWarn, 1000, "timerfd_settime failed: errno %d", errno);
      const std::int64_t until = hint - wheel_.now_ms();
      const int fallback = static_cast<int>(std::min<std::int64_t>(until, 1 << 30));
      return requested_ms < 0 ? fallback : std::min(requested_ms, fallback);
    }
  }
  return requested_ms;
}

void EventLoop::iterate(int timeout_ms) {
  // 1. wait
  const int timeout = wait_timeout(timeout_ms);
  int n = ::epoll_wait(epoll_fd_.get(), events_.data(), static_cast<int>(events_.size()), timeout);
  if (n < 0) {
    if (errno != EINTR) SLUICE_LOG_EVERY_MS(kWarn, 1000, "epoll_wait failed: errno %d", errno);
    n = 0;
  }
  // The batch is live from here: watchers closed by timers are dropped too.
  ready_count_ = n;
  dispatch_pos_ = -1;
  // 2. clock, 3. timers
  now_ = Clock::now();
  expire_timers();
  // 4. I/O
  dispatch(n);
  if (static_cast<std::size_t>(n) == events_.size() && events_.size() < kMaxEvents) {
    events_.resize(events_.size() * 2);
  }
  // 5. tasks
  run_tasks();
}

void EventLoop::expire_timers() { wheel_.advance(to_millis(now_)); }

void EventLoop::dispatch(int count) {
  for (dispatch_pos_ = 0; dispatch_pos_ < count; ++dispatch_pos_) {
    const epoll_event ev = events_[static_cast<std::size_t>(dispatch_pos_)];
    void* tag = ev.data.ptr;
    if (tag == nullptr) continue;  // watcher closed earlier in this batch
    if (tag == &g_wake_tag) {
      drain_fd(wake_fd_.get());
      continue;
    }
    if (tag == &g_timer_tag) {
      // The timerfd only wakes the loop; step 3 already expired the timers.
      drain_fd(timer_fd_.get());
      armed_ms_ = -1;
      continue;
    }
    IoWatcher& w = *static_cast<IoWatcher*>(tag);
    // Events for an interest dropped earlier in the batch are not delivered.
    const std::uint32_t events = ev.events & (w.interest_ | EPOLLRDHUP | EPOLLERR | EPOLLHUP);
    if (events != 0) w.cb_(events);  // may destroy w
  }
  ready_count_ = 0;
  dispatch_pos_ = -1;
}

void EventLoop::run_tasks() {
  {
    std::lock_guard<std::mutex> lock(tasks_mutex_);
    if (tasks_.empty()) return;
    running_tasks_.swap(tasks_);
    posted_in_loop_ = false;
  }
  for (Task& task : running_tasks_) task();
  running_tasks_.clear();
}

Status EventLoop::add_watcher(IoWatcher& w, std::uint32_t events) {
  assert_in_loop_thread();
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &w;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, w.fd(), &ev) != 0) return errno_code();
  return {};
}

Status EventLoop::modify_watcher(IoWatcher& w, std::uint32_t events) {
  assert_in_loop_thread();
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = &w;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, w.fd(), &ev) != 0) return errno_code();
  return {};
}

void EventLoop::remove_watcher(IoWatcher& w) noexcept {
  assert_in_loop_thread();
  // Fails with EBADF/ENOENT when the descriptor was closed first; the
  // collected events must be dropped all the same.
  (void)::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, w.fd(), nullptr);
  for (int i = dispatch_pos_ + 1; i < ready_count_; ++i) {
    epoll_event& ev = events_[static_cast<std::size_t>(i)];
    if (ev.data.ptr == &w) ev.data.ptr = nullptr;
  }
}

}  // namespace sluice
