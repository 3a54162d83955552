// TcpServer: accepts connections on N loops, one thread each.
//
// Two ways to spread connections over the loops:
//  - kReusePort (default): every loop has its own SO_REUSEPORT listener and
//    the kernel spreads new connections;
//  - kRoundRobin: one acceptor on loop 0 hands connections to the loops in
//    turn.
// Each loop keeps at most max_connections_per_loop connections; above it a
// new connection is closed at once and counted.
// Listeners may also be handed in (inherited from a master process).
// stop(grace): stop accepting, let every connection finish (the handler's
// on_drain, by default a graceful close after the pending output), force the
// rest closed when the grace period ends, then stop the loops.
// Thread rules: construct, start and stop from one thread that is not one of
// the server's loops. The handler is called on every loop's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "sluice/loop/loop_thread.h"
#include "sluice/net/acceptor.h"
#include "sluice/net/connection_registry.h"
#include "sluice/net/socket.h"

namespace sluice::net {

struct TcpServerOptions {
  enum class Spread { kReusePort, kRoundRobin };
  std::vector<InetAddress> listen;  // addresses to bind
  std::vector<int> inherited_fds;   // or listening sockets to adopt (dup'ed)
  int threads = 1;
  Spread spread = Spread::kReusePort;
  int backlog = 0;  // 0: somaxconn
  std::size_t max_connections_per_loop = 100'000;
  bool edge_triggered_accept = true;
  ConnectionOptions connection;
};

struct LoopStats {
  std::uint64_t accepted = 0;
  std::uint64_t rejected_limit = 0;  // closed at once: too many connections
  std::uint64_t rejected_no_fd = 0;  // closed at once: EMFILE/ENFILE
  std::uint64_t live = 0;
};

class TcpServer {
 public:
  TcpServer(TcpServerOptions options, ConnectionHandler& handler,
            mem::BufferPool& pool = mem::BufferPool::global());
  ~TcpServer();  // stop(0)
  TcpServer(const TcpServer&) = delete;
  TcpServer& operator=(const TcpServer&) = delete;

  // Binds (or adopts), starts the loops and begins accepting.
  Status start();
  // Graceful stop bounded by `grace`; returns once every loop has stopped.
  void stop(Duration grace = std::chrono::seconds(5));
  // Stops accepting (listeners closed) but keeps serving open connections.
  void stop_accepting();

  // The port actually bound (useful with port 0).
  std::uint16_t port() const noexcept { return port_; }
  std::size_t loop_count() const noexcept { return loops_.size(); }
  EventLoop& loop(std::size_t i);
  // Figures per loop, gathered on each loop (blocks until they answer).
  std::vector<LoopStats> stats();
  std::uint64_t live_connections();

 private:
  struct PerLoop;
  void adopt(PerLoop& pl, UniqueFd fd);
  void run_on_all(const std::function<void(PerLoop&)>& fn);

  TcpServerOptions options_;
  ConnectionHandler& handler_;
  mem::BufferPool& pool_;
  std::vector<std::unique_ptr<PerLoop>> loops_;
  std::atomic<std::size_t> next_loop_{0};
  std::uint16_t port_ = 0;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace sluice::net
