// SignalWatcher: signals as readable events, through a signalfd.
#include <pthread.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <utility>

#include "sluice/base/log.h"
#include "sluice/loop/event_loop.h"

namespace sluice {
namespace {

sigset_t make_set(const std::vector<int>& signals) noexcept {
  sigset_t set;
  sigemptyset(&set);
  for (int signo : signals) sigaddset(&set, signo);
  return set;
}

// Blocks `mask` in the calling thread and opens a signalfd for it; records in
// `newly_blocked` the signals this call blocked, to unblock them later.
UniqueFd block_and_open(const sigset_t& mask, sigset_t& newly_blocked) noexcept {
  sigemptyset(&newly_blocked);
  sigset_t previous;
  if (int err = ::pthread_sigmask(SIG_BLOCK, &mask, &previous); err != 0) {
    SLUICE_LOG(kError, "SignalWatcher: pthread_sigmask failed: errno %d", err);
    return UniqueFd();
  }
  for (int signo = 1; signo < NSIG; ++signo) {
    if (sigismember(&mask, signo) == 1 && sigismember(&previous, signo) == 0) {
      sigaddset(&newly_blocked, signo);
    }
  }
  UniqueFd fd(::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC));
  if (!fd) SLUICE_LOG(kError, "SignalWatcher: signalfd failed: errno %d", errno);
  return fd;
}

}  // namespace

SignalWatcher::SignalWatcher(EventLoop& loop, std::vector<int> signals, Callback cb)
    : mask_(make_set(signals)),
      unblock_on_exit_(),
      fd_(block_and_open(mask_, unblock_on_exit_)),
      cb_(std::move(cb)),
      watcher_(loop, fd_.get(), [this](std::uint32_t) { on_readable(); }) {
  if (!fd_) return;
  if (Status st = watcher_.enable_read(true); !st) {
    SLUICE_LOG(kError, "SignalWatcher: cannot watch the signalfd: %s",
               st.error().message().c_str());
    fd_.reset();
  }
}

SignalWatcher::~SignalWatcher() {
  watcher_.close();
  fd_.reset();
  // Signals still pending are delivered now, with their usual disposition.
  ::pthread_sigmask(SIG_UNBLOCK, &unblock_on_exit_, nullptr);
}

void SignalWatcher::on_readable() {
  signalfd_siginfo info[8];
  for (;;) {
    const ssize_t n = ::read(fd_.get(), info, sizeof info);
    if (n <= 0) break;  // EAGAIN: all read (EINTR cannot happen: blocked)
    const auto count = static_cast<std::size_t>(n) / sizeof info[0];
    for (std::size_t i = 0; i < count; ++i) cb_(static_cast<int>(info[i].ssi_signo));
    if (count < sizeof info / sizeof info[0]) break;
  }
}

Status ignore_sigpipe() noexcept {
  struct sigaction sa {};
  sa.sa_handler = SIG_IGN;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGPIPE, &sa, nullptr) != 0) return errno_code();
  return {};
}

}  // namespace sluice
