// Acceptor: a listening socket on a loop, handing each new connection over.
//
// On every readiness event it calls accept4 until EAGAIN, in level- and
// edge-triggered mode alike, so a burst never strands connections in the
// backlog. Running out of descriptors (EMFILE/ENFILE) never spins and never
// stops it: a reserved descriptor is closed to accept and close the pending
// connection at once (counted as rejected); if that is not possible, accepting
// pauses for a short backoff.
// Thread rules: lives on one loop; every member is called on that loop.
#pragma once

#include <cstdint>
#include <functional>

#include "sluice/base/unique_fd.h"
#include "sluice/loop/event_loop.h"

namespace sluice::net {

struct AcceptorOptions {
  bool edge_triggered = false;
  Duration pause_backoff = std::chrono::milliseconds(100);
};

struct AcceptorStats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_no_fd = 0;  // closed at once for EMFILE/ENFILE
  std::uint64_t pauses = 0;          // times accepting paused for a backoff
  std::uint64_t errors = 0;          // other accept errors (ECONNABORTED...)
  std::uint64_t wakeups = 0;         // readiness events handled
};

class Acceptor {
 public:
  using NewConnection = std::function<void(UniqueFd fd)>;

  Acceptor(EventLoop& loop, UniqueFd listen_fd, NewConnection on_new, AcceptorOptions options = {});
  ~Acceptor();
  Acceptor(const Acceptor&) = delete;
  Acceptor& operator=(const Acceptor&) = delete;

  Status start();
  // Stops accepting; the listening socket stays open until close().
  void stop() noexcept;
  // Stops and closes the listening socket (new connections are refused).
  void close() noexcept;
  int fd() const noexcept { return listen_.get(); }
  const AcceptorStats& stats() const noexcept { return stats_; }

 private:
  void on_readable();
  enum class Reject { kRejected, kDrained, kUnavailable };
  Reject reject_with_reserve();
  void pause();

  UniqueFd listen_;
  UniqueFd reserve_;
  NewConnection on_new_;
  AcceptorOptions options_;
  IoWatcher watcher_;
  Timer resume_timer_;
  AcceptorStats stats_;
  bool running_ = false;
};

}  // namespace sluice::net
