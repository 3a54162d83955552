// MsgServer: a framed-message server (frame.h) on net::TcpServer.
//
// Every connection gets a Link: frames are decoded without copying bodies,
// pings are answered with pongs, other frames go to the Router. A connection
// from which no whole frame arrived for heartbeat.misses intervals is closed
// (fully: its descriptor is closed, a peer cannot keep it half-open). A bad
// magic, version, flags or length closes that connection only, with a
// rate-limited log line and a counter. Several servers may run in one
// process: all state is per server.
// Thread rules: like net::TcpServer (construct, start, stop from one thread
// that is not one of its loops); the router must not change after start().
#pragma once

#include <cstdint>
#include <memory>

#include "sluice/msg/link.h"
#include "sluice/net/tcp_server.h"

namespace sluice::msg {

struct MsgServerOptions {
  net::TcpServerOptions tcp;                     // listen addresses, threads, inherited fds...
  std::size_t max_body_bytes = kDefaultMaxBody;  // per connection, <= kMaxBodyLimit
  HeartbeatOptions heartbeat;                    // interval 0: never close for silence
};

class MsgServer {
 public:
  MsgServer(MsgServerOptions options, const Router& router,
            mem::BufferPool& pool = mem::BufferPool::global());
  ~MsgServer();
  MsgServer(const MsgServer&) = delete;
  MsgServer& operator=(const MsgServer&) = delete;

  // Errc::kInvalidArgument for a body limit above kMaxBodyLimit or
  // heartbeat options out of range; else like TcpServer::start().
  Status start();
  void stop(Duration grace = std::chrono::seconds(5));
  void stop_accepting();

  std::uint16_t port() const noexcept;
  StatsSnapshot stats() const noexcept { return endpoint_.stats.snapshot(); }
  std::uint64_t live_connections();
  net::TcpServer& tcp() noexcept { return *tcp_; }

 private:
  class Handler;

  MsgServerOptions options_;
  Endpoint endpoint_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<net::TcpServer> tcp_;
};

}  // namespace sluice::msg
