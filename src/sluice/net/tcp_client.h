// TcpClient: one outgoing connection on a loop, with a connect timeout,
// retries with exponential backoff and jitter, and optional reconnection
// after the connection closes.
// Thread rules: lives on one loop; every member is called on that loop.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <random>

#include "sluice/net/tcp_connection.h"

namespace sluice::net {

struct TcpClientOptions {
  Millis connect_timeout{3000};
  int max_attempts = 1;  // per connect(); <= 0: retry forever
  Millis backoff_initial{100};
  Millis backoff_max{10'000};
  bool reconnect = false;             // connect again after the connection closes
  std::optional<InetAddress> source;  // local address to bind before connecting
  ConnectionOptions connection;
};

class TcpClient final : private ConnectionOwner {
 public:
  // Called when every attempt of a connect() failed (the last error).
  using ConnectFailed = std::function<void(std::error_code)>;

  TcpClient(EventLoop& loop, InetAddress server, ConnectionHandler& handler,
            TcpClientOptions options = {}, mem::BufferPool& pool = mem::BufferPool::global());
  ~TcpClient();
  TcpClient(const TcpClient&) = delete;
  TcpClient& operator=(const TcpClient&) = delete;

  void set_connect_failed(ConnectFailed cb) { on_failed_ = std::move(cb); }
  void connect();
  // Closes the connection (gracefully) and stops reconnecting.
  void disconnect();
  // The open connection, or nullptr.
  TcpConnection* connection() noexcept {
    return conn_ && conn_->connected() ? conn_.get() : nullptr;
  }
  int attempts() const noexcept { return attempts_total_; }
  int connections_made() const noexcept { return connections_made_; }

 private:
  void attempt();
  void on_connect_event();
  void established(UniqueFd fd);
  void failed(std::error_code ec);
  void schedule_retry();
  Millis next_backoff();
  void release(TcpConnection& conn) noexcept override;

  EventLoop& loop_;
  InetAddress server_;
  ConnectionHandler& handler_;
  TcpClientOptions options_;
  mem::BufferPool& pool_;
  ConnectFailed on_failed_;
  UniqueFd connecting_;
  std::unique_ptr<IoWatcher> connect_watcher_;
  Timer timeout_timer_;
  Timer retry_timer_;
  std::unique_ptr<TcpConnection> conn_;
  std::vector<std::unique_ptr<TcpConnection>> closed_;
  std::minstd_rand rng_;
  Millis backoff_{0};
  int attempts_ = 0;
  int attempts_total_ = 0;
  int connections_made_ = 0;
  std::uint32_t next_id_ = 1;
  bool wanted_ = false;
  std::shared_ptr<TcpClient*> alive_;
};

}  // namespace sluice::net
