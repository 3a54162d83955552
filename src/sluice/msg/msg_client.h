// MsgClient: one framed-message connection to a server, on a loop.
//
// Connects with a timeout and retries with exponential backoff and jitter
// (net::TcpClient); with `reconnect` it connects again whenever the
// connection closes, including when the heartbeat finds the server silent.
// Heartbeat: a ping when the link has been quiet for an interval (nothing
// sent, or nothing received); the connection is closed when nothing arrived
// for `misses` intervals. Replies (frames from the server) go to the Router.
// Thread rules: lives on one loop; every member is called on that loop.
#pragma once

#include <functional>
#include <memory>

#include "sluice/msg/link.h"
#include "sluice/net/tcp_client.h"

namespace sluice::msg {

struct MsgClientOptions {
  std::size_t max_body_bytes = kDefaultMaxBody;  // of frames received, <= kMaxBodyLimit
  HeartbeatOptions heartbeat;
  bool reconnect = true;
  int max_attempts = 0;  // per connect(); <= 0: retry forever
  Millis connect_timeout{3000};
  Millis backoff_initial{100};
  Millis backoff_max{10'000};
  net::ConnectionOptions connection;  // its max_input_bytes follows max_body_bytes
};

class MsgClient {
 public:
  using Connected = std::function<void(Link&)>;
  using Disconnected = std::function<void(net::CloseReason)>;
  using ConnectFailed = net::TcpClient::ConnectFailed;

  MsgClient(EventLoop& loop, net::InetAddress server, const Router& router,
            MsgClientOptions options = {}, mem::BufferPool& pool = mem::BufferPool::global());
  ~MsgClient();
  MsgClient(const MsgClient&) = delete;
  MsgClient& operator=(const MsgClient&) = delete;

  // Called on the loop: after each connection opened / closed; when every
  // attempt of a connect() failed.
  void set_on_connected(Connected cb) { on_connected_ = std::move(cb); }
  void set_on_disconnected(Disconnected cb) { on_disconnected_ = std::move(cb); }
  void set_connect_failed(ConnectFailed cb) { tcp_->set_connect_failed(std::move(cb)); }

  void connect() { tcp_->connect(); }
  // Closes gracefully and stops reconnecting.
  void disconnect() { tcp_->disconnect(); }

  // The open link, or nullptr.
  Link* link() noexcept { return link_; }
  bool connected() const noexcept { return link_ != nullptr; }
  // Errc::kClosed when not connected; else Link::send.
  Status send(std::uint32_t id, std::string_view body, std::uint8_t flags = 0);

  StatsSnapshot stats() const noexcept { return endpoint_.stats.snapshot(); }
  int connections_made() const noexcept { return tcp_->connections_made(); }
  int attempts() const noexcept { return tcp_->attempts(); }

 private:
  class Handler;

  Endpoint endpoint_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<net::TcpClient> tcp_;
  Link* link_ = nullptr;
  Connected on_connected_;
  Disconnected on_disconnected_;
};

}  // namespace sluice::msg
