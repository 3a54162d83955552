// Session: the HTTP/1.1 state of one connection (internal to HttpServer).
// Thread rules: lives on the connection's loop.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "sluice/http/body_decoder.h"
#include "sluice/http/request_parser.h"
#include "sluice/http/response.h"
#include "sluice/http/router.h"
#include "sluice/http/server.h"

namespace sluice::http {

// Shared between a deferred answer's handle (any thread) and its session.
struct AsyncState {
  EventLoop* loop = nullptr;
  Session* session = nullptr;  // cleared on the loop when the connection closes
  net::TcpConnection* conn = nullptr;
  std::atomic<bool> used{false};
};

// The per-request working set of a session.
struct RequestState {
  explicit RequestState(const ParserLimits& limits) : parser(limits), decoder(limits) {}
  RequestParser parser;
  BodyDecoder decoder;
  Router::Match match;
  std::string chunked_body;  // a buffered chunked body
  BodySink sink;
};

class Session {
 public:
  explicit Session(HttpServer& server);
  ~Session();

  void on_open(net::TcpConnection& conn);
  void on_message(net::TcpConnection& conn, mem::InputBuffer& in);
  void on_write_complete(net::TcpConnection& conn);
  void on_drain(net::TcpConnection& conn);
  void on_close(net::TcpConnection& conn, net::CloseReason reason);

  // For Response and AsyncResponse.
  bool closing_after_response() const noexcept { return close_after_ || draining_; }
  const HttpServer& server() const noexcept { return server_; }
  std::shared_ptr<AsyncState> defer(net::TcpConnection& conn);
  void complete_async(net::TcpConnection& conn, int status,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      std::string_view body);
  void set_body_sink(BodySink sink) {
    if (state_) state_->sink = std::move(sink);
  }

  // What a Response needs of the request, kept past the head's bytes.
  struct Info {
    int version_minor = 1;
    bool keep_alive = true;
    bool head_only = false;
  };
  const Info& info() const noexcept { return info_; }

 private:
  enum class Phase : std::uint8_t { kIdle, kHead, kBody, kAwait, kClosing };
  enum class Gauge : std::uint8_t { kNone, kReading, kWriting, kWaiting };

  void process(net::TcpConnection& conn, mem::InputBuffer& in);
  void begin_request(net::TcpConnection& conn, mem::InputBuffer& in);
  void continue_body(net::TcpConnection& conn, mem::InputBuffer& in);
  void dispatch(net::TcpConnection& conn, std::string_view body);
  void after_handler(net::TcpConnection& conn, Response& res);
  void simple_response(net::TcpConnection& conn, StatusCode code, std::string_view allow = {});
  void error_response(net::TcpConnection& conn, StatusCode code, std::string_view reason);
  void finish_request(net::TcpConnection& conn, int status, std::uint64_t body_bytes);
  void set_gauge(Gauge g) noexcept;
  void count_status(int status) noexcept;

  void acquire_state();
  void release_state() noexcept;

  HttpServer& server_;
  // Held only while a request is in progress: an idle connection holds no
  // parser, no route match and no body state (they come from a per-thread
  // free list, so taking one allocates nothing in steady state).
  std::unique_ptr<RequestState> state_;
  Info info_;
  std::shared_ptr<AsyncState> async_;
  std::size_t head_bytes_ = 0;    // of the current request
  std::size_t body_scanned_ = 0;  // framing bytes the decoder used
  std::int64_t started_us_ = 0;
  std::uint32_t served_ = 0;
  Phase phase_ = Phase::kIdle;
  Gauge gauge_ = Gauge::kNone;
  bool close_after_ = false;
  bool draining_ = false;
  bool streaming_ = false;
  bool lingering_close_ = false;  // an error answer: drain input before closing
  bool has_request_ = false;      // a parsed head is being handled
};

}  // namespace sluice::http
