// Link: the msg/ side of one connection, server or client. It decodes frames,
// answers pings, routes the rest, sends frames, and keeps the connection's
// heartbeat bookkeeping (heartbeat.h).
//
// A Link is the per-connection context of the server's and client's
// handlers (net::TypedHandler<Link>): created on open, destroyed with the
// connection. Handlers get it by reference and may keep its connection id,
// never the reference, past the call.
// Thread rules: the connection's loop thread only.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sluice/base/error.h"
#include "sluice/msg/decoder.h"
#include "sluice/msg/heartbeat.h"
#include "sluice/msg/router.h"
#include "sluice/msg/stats.h"
#include "sluice/net/tcp_connection.h"

namespace sluice::msg {

// What the links of one server or client share. Owned by MsgServer or
// MsgClient; outlives every link.
struct Endpoint {
  const Router* router = nullptr;
  Stats stats;
  std::size_t max_body_bytes = kDefaultMaxBody;
  HeartbeatOptions heartbeat;
  bool sends_pings = false;  // the client side pings; both sides answer pings
  const char* name = "msg";  // prefix of log lines
  std::atomic<std::int64_t> log_last_ms{INT64_MIN / 2};  // rate limit of this endpoint's logs
};

class Link final : private SilenceWatch::Listener, private PingSchedule::Listener {
 public:
  Link(net::TcpConnection& conn, Endpoint& endpoint);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  // Queues one frame (copied into the connection's output). Inside a
  // handler it leaves with the other replies when the handler returns.
  // Errors: kClosed, kTooLarge (body above kMaxBodyLimit), kPoolLimit.
  Status send(std::uint32_t id, std::string_view body, std::uint8_t flags = 0);
  // Closes now (a full close: output dropped, descriptor closed).
  void close(net::CloseReason reason = net::CloseReason::kLocalClose);

  net::TcpConnection& connection() const noexcept { return *conn_; }
  net::ConnectionId id() const noexcept { return conn_->id(); }
  bool connected() const noexcept { return conn_->connected(); }

  // The body limit of frames this side receives (default: the endpoint's),
  // clamped to kMaxBodyLimit; the connection's input cap follows it.
  void set_max_body(std::size_t n) noexcept;
  std::size_t max_body() const noexcept { return decoder_.max_body(); }

  // Why the link closed itself, if it did: a decode error, or kFrame when
  // it did not close for a protocol error.
  DecodeStatus protocol_error() const noexcept { return error_; }
  bool heartbeat_expired() const noexcept { return heartbeat_expired_; }

  // For the server's and client's handlers.
  void start();
  void on_input(mem::InputBuffer& in);
  void on_closed(net::CloseReason reason);

 private:
  void dispatch(const Frame& frame);
  void fail(const DecodeResult& r);
  bool log_allowed() noexcept;
  void on_silence() override;
  void on_ping_due() override;

  net::TcpConnection* conn_;
  Endpoint* endpoint_;
  Decoder decoder_;
  SilenceWatch silence_;
  PingSchedule pings_;
  std::size_t partial_bytes_ = 0;  // an incomplete frame left in the input
  DecodeStatus error_ = DecodeStatus::kFrame;
  bool heartbeat_expired_ = false;
};

}  // namespace sluice::msg
