#include "sluice/net/tcp_client.h"

#include <sys/epoll.h>

#include "sluice/base/log.h"
#include "sluice/net/socket.h"

namespace sluice::net {

TcpClient::TcpClient(EventLoop& loop, InetAddress server, ConnectionHandler& handler,
                     TcpClientOptions options, mem::BufferPool& pool)
    : loop_(loop),
      server_(server),
      handler_(handler),
      options_(std::move(options)),
      pool_(pool),
      timeout_timer_(loop, [this] { failed(make_error_code(Errc::kTimeout)); }),
      retry_timer_(loop, [this] { attempt(); }),
      rng_(std::random_device{}()),
      alive_(std::make_shared<TcpClient*>(this)) {}

TcpClient::~TcpClient() {
  wanted_ = false;
  connect_watcher_.reset();
  if (conn_ && conn_->connected()) conn_->close(CloseReason::kLocalClose);
  closed_.clear();
}

void TcpClient::connect() {
  wanted_ = true;
  attempts_ = 0;
  backoff_ = options_.backoff_initial;
  if (!connection() && !connecting_) attempt();
}

void TcpClient::disconnect() {
  wanted_ = false;
  retry_timer_.cancel();
  timeout_timer_.cancel();
  connect_watcher_.reset();
  connecting_.reset();
  if (TcpConnection* c = connection()) c->shutdown();
}

void TcpClient::attempt() {
  if (!wanted_) return;
  ++attempts_;
  ++attempts_total_;
  auto started = start_connect(server_, options_.source ? &*options_.source : nullptr);
  if (!started) {
    failed(started.error());
    return;
  }
  if (started->connected) {
    established(std::move(started->fd));
    return;
  }
  connecting_ = std::move(started->fd);
  connect_watcher_ = std::make_unique<IoWatcher>(loop_, connecting_.get(),
                                                 [this](std::uint32_t) { on_connect_event(); });
  (void)connect_watcher_->enable_write(true);
  timeout_timer_.start(options_.connect_timeout);
}

void TcpClient::on_connect_event() {
  timeout_timer_.cancel();
  connect_watcher_->close();
  int err = socket_error(connecting_.get());
  if (err != 0) {
    failed(errno_code(err));
    return;
  }
  UniqueFd fd = std::move(connecting_);
  established(std::move(fd));
}

void TcpClient::established(UniqueFd fd) {
  timeout_timer_.cancel();
  // The watcher is destroyed in a task: this may run inside its callback.
  loop_.post([w = std::shared_ptr<IoWatcher>(std::move(connect_watcher_))] {});
  attempts_ = 0;
  backoff_ = options_.backoff_initial;
  ++connections_made_;
  ConnectionId id = next_id_++;
  ConnectionOwner& owner = *this;
  conn_ = std::make_unique<TcpConnection>(loop_, std::move(fd), handler_, options_.connection, id,
                                          owner, pool_);
  conn_->start();
}

void TcpClient::failed(std::error_code ec) {
  if (connect_watcher_) {
    connect_watcher_->close();
    loop_.post([w = std::shared_ptr<IoWatcher>(std::move(connect_watcher_))] {});
  }
  connecting_.reset();
  timeout_timer_.cancel();
  SLUICE_LOG_EVERY_MS(kInfo, 1000, "connect to %s failed: %s", server_.to_string().c_str(),
                      ec.message().c_str());
  if (wanted_ && (options_.max_attempts <= 0 || attempts_ < options_.max_attempts)) {
    schedule_retry();
    return;
  }
  wanted_ = false;
  if (on_failed_) on_failed_(ec);
}

Millis TcpClient::next_backoff() {
  // Exponential backoff with "equal jitter": half fixed, half random.
  Millis base = backoff_;
  backoff_ = std::min(options_.backoff_max, backoff_ * 2);
  auto half = base.count() / 2;
  std::uniform_int_distribution<std::int64_t> jitter(0, half > 0 ? half : 0);
  return Millis(half + jitter(rng_));
}

void TcpClient::schedule_retry() { retry_timer_.start(next_backoff()); }

void TcpClient::release(TcpConnection& conn) noexcept {
  if (conn_.get() == &conn) closed_.push_back(std::move(conn_));
  loop_.post([weak = std::weak_ptr<TcpClient*>(alive_)] {
    if (auto self = weak.lock()) (*self)->closed_.clear();
  });
  if (wanted_ && options_.reconnect) {
    attempts_ = 0;
    schedule_retry();
  }
}

}  // namespace sluice::net
