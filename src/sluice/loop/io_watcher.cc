// IoWatcher: one descriptor's interest set in the loop's epoll set.
#include <utility>

#include "sluice/loop/event_loop.h"

namespace sluice {

IoWatcher::IoWatcher(EventLoop& loop, int fd, Callback cb, bool edge_triggered)
    : loop_(&loop), fd_(fd), cb_(std::move(cb)), edge_(edge_triggered) {}

IoWatcher::~IoWatcher() { close(); }

Status IoWatcher::enable_read(bool on) {
  return update(on ? interest_ | EPOLLIN : interest_ & ~std::uint32_t{EPOLLIN});
}

Status IoWatcher::enable_write(bool on) {
  return update(on ? interest_ | EPOLLOUT : interest_ & ~std::uint32_t{EPOLLOUT});
}

bool IoWatcher::reading() const noexcept { return (interest_ & EPOLLIN) != 0; }
bool IoWatcher::writing() const noexcept { return (interest_ & EPOLLOUT) != 0; }

// Registers on the first interest, modifies on a change, and unregisters when
// nothing is left (so a hung-up descriptor nobody listens to cannot spin a
// level-triggered loop with EPOLLHUP). No system call when nothing changes.
Status IoWatcher::update(std::uint32_t interest) {
  if (interest == interest_) return {};
  if (interest == 0) {
    close();
    return {};
  }
  const std::uint32_t events = interest | EPOLLRDHUP | (edge_ ? std::uint32_t{EPOLLET} : 0U);
  Status st =
      registered_ ? loop_->modify_watcher(*this, events) : loop_->add_watcher(*this, events);
  if (!st) return st;
  registered_ = true;
  interest_ = interest;
  return {};
}

void IoWatcher::close() noexcept {
  if (!registered_) return;
  loop_->remove_watcher(*this);
  registered_ = false;
  interest_ = 0;
}

}  // namespace sluice
