#include "sluice/net/acceptor.h"

#include <fcntl.h>
#include <sys/socket.h>

#include "sluice/base/log.h"

namespace sluice::net {
namespace {

UniqueFd open_reserve() { return UniqueFd(::open("/dev/null", O_RDONLY | O_CLOEXEC)); }

}  // namespace

Acceptor::Acceptor(EventLoop& loop, UniqueFd listen_fd, NewConnection on_new,
                   AcceptorOptions options)
    : listen_(std::move(listen_fd)),
      reserve_(open_reserve()),
      on_new_(std::move(on_new)),
      options_(options),
      watcher_(
          loop, listen_.get(), [this](std::uint32_t) { on_readable(); }, options.edge_triggered),
      resume_timer_(loop, [this] {
        if (running_) (void)watcher_.enable_read(true);
        if (running_ && options_.edge_triggered) on_readable();  // no new edge will come
      }) {}

Acceptor::~Acceptor() { close(); }

Status Acceptor::start() {
  running_ = true;
  return watcher_.enable_read(true);
}

void Acceptor::stop() noexcept {
  running_ = false;
  resume_timer_.cancel();
  (void)watcher_.enable_read(false);
}

void Acceptor::close() noexcept {
  stop();
  watcher_.close();
  listen_.reset();
}

void Acceptor::on_readable() {
  ++stats_.wakeups;
  while (running_) {
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      ++stats_.accepted;
      on_new_(UniqueFd(fd));
      continue;
    }
    switch (errno) {
      case EAGAIN: return;
      case EINTR: continue;
      case EMFILE:
      case ENFILE:
        SLUICE_LOG_EVERY_MS(kWarn, 1000, "accept: out of descriptors (%s); rejecting connections",
                            errno == EMFILE ? "EMFILE" : "ENFILE");
        switch (reject_with_reserve()) {
          case Reject::kRejected: continue;
          case Reject::kDrained: return;
          case Reject::kUnavailable: pause(); return;
        }
        return;
      case ENOBUFS:
      case ENOMEM:
        SLUICE_LOG_EVERY_MS(kWarn, 1000, "accept: out of kernel memory; pausing");
        ++stats_.errors;
        pause();
        return;
      default:
        // ECONNABORTED, EPROTO, EPERM (firewall) and friends concern one
        // connection only: count it and go on.
        ++stats_.errors;
        continue;
    }
  }
}

Acceptor::Reject Acceptor::reject_with_reserve() {
  if (!reserve_) reserve_ = open_reserve();
  if (!reserve_) return Reject::kUnavailable;
  reserve_.reset();
  int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
  int err = errno;
  if (fd >= 0) {
    ::close(fd);
    ++stats_.rejected_no_fd;
  }
  reserve_ = open_reserve();
  if (fd < 0 && err == EAGAIN) return Reject::kDrained;
  return fd >= 0 && reserve_.valid() ? Reject::kRejected : Reject::kUnavailable;
}

void Acceptor::pause() {
  ++stats_.pauses;
  (void)watcher_.enable_read(false);
  resume_timer_.start(options_.pause_backoff);
}

}  // namespace sluice::net
