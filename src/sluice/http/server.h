// HttpServer: HTTP/1.1 on Sluice's TCP layer.
//
// Per connection, a Session parses requests as they arrive (incrementally:
// nothing is rescanned), calls the router's handler for each, and keeps the
// connection semantics of RFC 9112: persistent connections by default in
// HTTP/1.1 and on request in 1.0, pipelined requests answered in order with
// the answers to one read leaving in one write, Expect: 100-continue,
// bodies by Content-Length or chunked, limits with their status codes,
// header/body/keep-alive/send timeouts, a maximum of requests per
// connection, and a lingering close after an error answer so that the
// client reads it instead of a reset.
// Graceful stop (stop(grace) or drain()): each connection finishes the
// request in flight, answers its next request with Connection: close, and an
// idle keep-alive connection closes after `drain_idle_grace`.
// Thread rules: construct, start and stop from one thread that is not a loop
// of the server; handlers run on the loops' threads, concurrently.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "sluice/http/body_decoder.h"
#include "sluice/http/limits.h"
#include "sluice/http/request_parser.h"
#include "sluice/http/response.h"
#include "sluice/http/router.h"
#include "sluice/net/tcp_server.h"
#include "sluice/proc/shared_stats.h"

namespace sluice::http {

struct ServerOptions {
  net::TcpServerOptions tcp;  // listen addresses or inherited fds, threads...
  ParserLimits limits;
  Millis header_timeout{60'000};     // whole request head (408, then close)
  Millis body_timeout{60'000};       // between two reads of a body
  Millis keepalive_timeout{75'000};  // idle between requests
  Millis send_timeout{60'000};       // between two writes of a response
  Millis drain_idle_grace{1'000};    // graceful stop: idle keep-alive connections
  std::uint32_t max_requests_per_connection = 1000;
  // Bodies up to this size are handed to handlers whole (ServerRequest::body);
  // bigger ones need a streaming handler (ServerRequest::on_body).
  std::size_t max_buffered_body = std::size_t{1} << 20;
  std::string server_header = "sluice";
  proc::StatsSlot* stats = nullptr;  // whole-server counters, when under a master
};

class Session;

// Streaming upload: each body piece, then last=true; answer in the last call.
using BodySink = std::function<void(std::string_view piece, bool last, Response& response)>;

// What a handler sees of one request.
struct ServerRequest {
  const Request& head;
  RouteParams params;
  std::string_view body;  // whole body when buffered (see on_body)
  net::TcpConnection& connection;

  Method method() const noexcept { return head.method; }
  std::string_view path() const noexcept { return head.path; }
  std::string_view query() const noexcept { return head.query; }
  std::string_view header(std::string_view name) const noexcept {
    const Header* h = head.find(name);
    return h ? h->value : std::string_view{};
  }
  std::string_view param(std::string_view name) const noexcept { return params.get(name); }
  // The percent-decoded value of a query parameter ('+' is a space); empty
  // when absent. Allocates (a handler asks for an owned copy).
  std::string query_param(std::string_view name) const;
  // Streaming upload: call in the handler (which then returns without
  // answering); `sink` gets the body pieces as they arrive and answers in its
  // last call. Only for requests with a body; the body is not buffered.
  void on_body(BodySink sink);

  Session* session = nullptr;  // internal
};

// Counted on every connection; read with HttpServer::totals().
struct HttpCounters {
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> responses_4xx{0};
  std::atomic<std::uint64_t> responses_5xx{0};
  std::atomic<std::uint64_t> header_timeouts{0};  // closed with 408, nginx style
  std::atomic<std::uint64_t> bad_requests{0};     // parser errors answered
};

// Called once per answered request (access logs); on the loop's thread.
struct LogRecord {
  const Request* head;  // null when the request could not be parsed
  int status;
  std::uint64_t body_bytes;
  std::int64_t duration_us;
  net::TcpConnection* connection;
};
using RequestLogger = std::function<void(const LogRecord&)>;

class HttpServer {
 public:
  HttpServer(ServerOptions options, const Router& router,
             mem::BufferPool& pool = mem::BufferPool::global());
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  void set_logger(RequestLogger logger) { logger_ = std::move(logger); }
  Status start();
  // Graceful stop bounded by `grace` (see above), then the loops stop.
  void stop(Duration grace = std::chrono::seconds(5));
  std::uint16_t port() const noexcept { return tcp_->port(); }
  net::TcpServer& tcp() noexcept { return *tcp_; }
  const HttpCounters& counters() const noexcept { return counters_; }

  // Internals for Session.
  const ServerOptions& options() const noexcept { return options_; }
  const Router& router() const noexcept { return router_; }
  HttpCounters& mutable_counters() noexcept { return counters_; }
  const RequestLogger& logger() const noexcept { return logger_; }
  bool draining() const noexcept { return draining_.load(std::memory_order_relaxed); }
  // Unique per server object in this process, never reused.
  std::uint64_t id() const noexcept { return id_; }

 private:
  class Handler;
  ServerOptions options_;
  const Router& router_;
  HttpCounters counters_;
  RequestLogger logger_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<net::TcpServer> tcp_;
  std::atomic<bool> draining_{false};
  std::uint64_t id_;
};

}  // namespace sluice::http
