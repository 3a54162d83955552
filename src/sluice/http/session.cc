#include "sluice/http/session.h"

#include "sluice/base/log.h"
#include "sluice/http/chars.h"

namespace sluice::http {
namespace {

// The loop's clock, cached once per iteration: no clock read per request.
std::int64_t now_us(const net::TcpConnection& conn) noexcept {
  return std::chrono::duration_cast<std::chrono::microseconds>(conn.loop().now().time_since_epoch())
      .count();
}

constexpr std::string_view kErrorBodyStart = "<html><head><title>";
constexpr std::string_view kErrorBodyMiddle = "</title></head><body><h1>";
constexpr std::string_view kErrorBodyEnd = "</h1><hr>sluice</body></html>\n";

}  // namespace

namespace {

// Free RequestStates of one server on this thread.
struct StatePool {
  std::uint64_t server_id;
  std::vector<std::unique_ptr<RequestState>> free;
};
thread_local std::vector<StatePool> t_pools;
constexpr std::size_t kPoolKeep = 256;

StatePool& pool_for(std::uint64_t id) {
  for (StatePool& p : t_pools)
    if (p.server_id == id) return p;
  t_pools.push_back(StatePool{id, {}});
  return t_pools.back();
}

}  // namespace

Session::Session(HttpServer& server) : server_(server) {}

Session::~Session() {
  if (async_) async_->session = nullptr;
  release_state();
  set_gauge(Gauge::kNone);
}

void Session::acquire_state() {
  if (state_) return;
  StatePool& pool = pool_for(server_.id());
  if (!pool.free.empty()) {
    state_ = std::move(pool.free.back());
    pool.free.pop_back();
  } else {
    state_ = std::make_unique<RequestState>(server_.options().limits);
  }
}

void Session::release_state() noexcept {
  if (!state_) return;
  state_->parser.reset();
  state_->chunked_body.clear();
  state_->sink = nullptr;
  StatePool& pool = pool_for(server_.id());
  if (pool.free.size() < kPoolKeep) pool.free.push_back(std::move(state_));
  state_.reset();
}

void Session::set_gauge(Gauge g) noexcept {
  if (g == gauge_) return;
  // The gauges live only in the shared counters of a master-worker server
  // (stub_status): a plain server pays no atomic operation for them.
  if (proc::StatsSlot* s = server_.options().stats) {
    auto counter = [](Gauge which) {
      switch (which) {
        case Gauge::kReading: return proc::Counter::kReading;
        case Gauge::kWriting: return proc::Counter::kWriting;
        case Gauge::kWaiting: return proc::Counter::kWaiting;
        case Gauge::kNone: break;
      }
      return proc::Counter::kCount;
    };
    if (gauge_ != Gauge::kNone) s->add(counter(gauge_), -1);
    if (g != Gauge::kNone) s->add(counter(g), 1);
  }
  gauge_ = g;
}

void Session::on_open(net::TcpConnection& conn) {
  const ServerOptions& o = server_.options();
  conn.set_idle_timeout(o.keepalive_timeout);
  if (proc::StatsSlot* s = o.stats) {
    s->add(proc::Counter::kAccepted);
    s->add(proc::Counter::kHandled);
    s->add(proc::Counter::kActive);
  }
  set_gauge(Gauge::kWaiting);
}

void Session::on_close(net::TcpConnection& conn, net::CloseReason reason) {
  if (async_) async_->session = nullptr;
  if (reason == net::CloseReason::kTimeout && phase_ == Phase::kHead) {
    // nginx's habit: a head that does not arrive in time is closed without an
    // answer and counted (and logged) as 408.
    server_.mutable_counters().header_timeouts.fetch_add(1, std::memory_order_relaxed);
    if (const RequestLogger& log = server_.logger()) {
      log(LogRecord{nullptr, 408, 0, now_us(conn) - started_us_, nullptr});
    }
  }
  if (proc::StatsSlot* s = server_.options().stats) s->add(proc::Counter::kActive, -1);
  set_gauge(Gauge::kNone);
}

void Session::on_write_complete(net::TcpConnection&) {
  if (gauge_ == Gauge::kWriting && phase_ == Phase::kIdle) set_gauge(Gauge::kWaiting);
}

void Session::on_drain(net::TcpConnection& conn) {
  draining_ = true;
  if (phase_ == Phase::kIdle && conn.input().empty()) {
    // An idle keep-alive connection gets the grace period for one more
    // request (answered with Connection: close), then closes.
    conn.set_idle_timeout(server_.options().drain_idle_grace);
  }
}

void Session::on_message(net::TcpConnection& conn, mem::InputBuffer& in) { process(conn, in); }

void Session::process(net::TcpConnection& conn, mem::InputBuffer& in) {
  while (conn.connected() &&
         (phase_ == Phase::kIdle || phase_ == Phase::kHead || phase_ == Phase::kBody)) {
    if (phase_ == Phase::kBody) {
      continue_body(conn, in);
      if (phase_ == Phase::kBody) return;  // the body needs more bytes
      continue;
    }
    if (in.empty()) return;
    if (phase_ == Phase::kIdle) {
      acquire_state();
      phase_ = Phase::kHead;
      started_us_ = now_us(conn);
      set_gauge(Gauge::kReading);
      conn.expect_input_until(to_millis(conn.loop().now()) +
                              server_.options().header_timeout.count());
    }
    ParseResult r = state_->parser.parse(in.view());
    if (r.status == ParseStatus::kNeedMore) return;
    if (r.status == ParseStatus::kError) {
      error_response(conn, r.error, r.reason);
      return;
    }
    head_bytes_ = r.head_bytes;
    begin_request(conn, in);
  }
}

void Session::begin_request(net::TcpConnection& conn, mem::InputBuffer& in) {
  const Request& req = state_->parser.request();
  const ServerOptions& o = server_.options();
  has_request_ = true;
  ++served_;
  server_.mutable_counters().requests.fetch_add(1, std::memory_order_relaxed);
  if (proc::StatsSlot* s = o.stats) s->add(proc::Counter::kRequests);
  info_.version_minor = req.version_minor;
  info_.keep_alive = req.keep_alive;
  info_.head_only = req.method == Method::kHead;
  close_after_ = !req.keep_alive || served_ >= o.max_requests_per_connection || server_.draining();
  body_scanned_ = 0;
  state_->chunked_body.clear();
  streaming_ = false;
  state_->sink = nullptr;

  if (req.method == Method::kOther) return simple_response(conn, StatusCode::kNotImplemented);
  if (req.target_form == TargetForm::kAsterisk) {  // OPTIONS *
    return simple_response(conn, StatusCode::kNoContent,
                           allow_header_value(server_.router().all_methods()));
  }
  state_->match = server_.router().match(req.method, req.path);
  if (!state_->match.handler) {
    if (req.method == Method::kOptions && state_->match.allowed)
      return simple_response(conn, StatusCode::kNoContent,
                             allow_header_value(state_->match.allowed));
    if (state_->match.allowed)
      return simple_response(conn, StatusCode::kMethodNotAllowed,
                             allow_header_value(state_->match.allowed));
    return simple_response(conn, StatusCode::kNotFound);
  }
  if (req.framing == BodyFraming::kNone) {
    dispatch(conn, {});
    return;
  }
  // A body follows.
  streaming_ = state_->match.streaming;
  if (!streaming_ && req.framing == BodyFraming::kContentLength &&
      req.content_length > o.max_buffered_body) {
    close_after_ = true;
    lingering_close_ = true;
    return simple_response(conn, StatusCode::kContentTooLarge);
  }
  if (req.expect_continue) {
    (void)conn.output().append("HTTP/1.1 100 Continue\r\n\r\n");
    conn.flush();
  }
  state_->decoder.start(req);
  phase_ = Phase::kBody;
  conn.set_read_timeout(o.body_timeout);
  conn.expect_input(true);
  if (streaming_) {
    // The handler runs now and takes the body as it arrives.
    ServerRequest sreq{req, state_->match.params, {}, conn};
    sreq.session = this;
    Response res(conn, *this, closing_after_response());
    set_gauge(Gauge::kWriting);
    (*state_->match.handler)(sreq, res);
    if (res.finished() || !state_->sink) {
      // Answered early (or refused): the rest of the body cannot be trusted
      // to be read, so the connection closes after the answer.
      close_after_ = true;
      lingering_close_ = true;
      if (!res.finished()) res.status(StatusCode::kInternalServerError).send("no body handler\n");
      phase_ = Phase::kAwait;
      finish_request(conn, res.status_code(), res.body_bytes());
      return;
    }
    set_gauge(Gauge::kReading);
    // The head's bytes go now (the body streams past them); its views do too,
    // so this request is logged without its request line.
    in.consume(head_bytes_);
    head_bytes_ = 0;
    has_request_ = false;
  }
}

void Session::continue_body(net::TcpConnection& conn, mem::InputBuffer& in) {
  std::string_view all = in.view();
  std::string_view rest = all.substr(std::min(all.size(), head_bytes_ + body_scanned_));
  for (;;) {
    BodyResult r = state_->decoder.decode(rest);
    if (r.status == BodyStatus::kError) {
      error_response(conn, r.error, r.reason);
      return;
    }
    std::string_view piece = r.data;
    rest.remove_prefix(r.consumed);
    body_scanned_ += r.consumed;
    bool done = r.status == BodyStatus::kDone;
    if (streaming_) {
      if (!piece.empty() || done) {
        Response res(conn, *this, closing_after_response());
        set_gauge(done ? Gauge::kWriting : Gauge::kReading);
        state_->sink(piece, done, res);
        if (done) {
          if (!res.finished() && !res.deferred())
            res.status(StatusCode::kInternalServerError).send("no answer\n");
          in.consume(body_scanned_);
          body_scanned_ = 0;
          conn.expect_input(false);
          if (res.deferred()) {
            phase_ = Phase::kAwait;
            conn.pause_reading();
            return;
          }
          finish_request(conn, res.status_code(), res.body_bytes());
          return;
        }
      }
      if (r.status == BodyStatus::kNeedMore) {
        in.consume(body_scanned_);  // streamed pieces are gone
        body_scanned_ = 0;
        return;
      }
      continue;
    }
    if (state_->parser.request().framing == BodyFraming::kChunked) {
      if (state_->chunked_body.size() + piece.size() > server_.options().max_buffered_body) {
        close_after_ = true;
        error_response(conn, StatusCode::kContentTooLarge, "chunked body over the buffered limit");
        return;
      }
      state_->chunked_body.append(piece);
    }
    if (done) {
      conn.expect_input(false);
      state_->parser.rebase(in.view());  // the buffer may have moved while the body arrived
      std::string_view body = state_->parser.request().framing == BodyFraming::kChunked
                                  ? std::string_view(state_->chunked_body)
                                  : in.view().substr(head_bytes_, body_scanned_);
      dispatch(conn, body);
      return;
    }
    if (r.status == BodyStatus::kNeedMore) return;
  }
}

void Session::dispatch(net::TcpConnection& conn, std::string_view body) {
  const Request& req = state_->parser.request();
  ServerRequest sreq{req, state_->match.params, body, conn};
  sreq.session = this;
  Response res(conn, *this, closing_after_response());
  set_gauge(Gauge::kWriting);
  (*state_->match.handler)(sreq, res);
  after_handler(conn, res);
}

void Session::after_handler(net::TcpConnection& conn, Response& res) {
  if (res.deferred()) {
    // The answer comes later. Nothing else is answered meanwhile (reading
    // pauses), so pipelined answers stay in order and the request's bytes,
    // which the access log still reads, stay in place until then.
    phase_ = Phase::kAwait;
    conn.pause_reading();
    return;
  }
  if (!res.finished()) {
    SLUICE_LOG_EVERY_MS(kWarn, 1000, "http: a handler returned without answering; 500");
    if (!res.started()) {
      res.status(StatusCode::kInternalServerError).send("handler gave no answer\n");
    } else {
      close_after_ = true;  // a half-written answer: only closing ends it
    }
  }
  finish_request(conn, res.status_code(), res.body_bytes());
}

std::shared_ptr<AsyncState> Session::defer(net::TcpConnection& conn) {
  async_ = std::make_shared<AsyncState>();
  async_->loop = &conn.loop();
  async_->session = this;
  async_->conn = &conn;
  return async_;
}

void Session::complete_async(net::TcpConnection& conn, int status,
                             const std::vector<std::pair<std::string, std::string>>& headers,
                             std::string_view body) {
  if (phase_ != Phase::kAwait || !conn.connected()) return;
  async_->session = nullptr;
  async_.reset();
  Response res(conn, *this, closing_after_response());
  res.status(status);
  for (const auto& [name, value] : headers) res.header(name, value);
  res.send(body);
  finish_request(conn, res.status_code(), res.body_bytes());
  if (!conn.connected()) return;
  conn.resume_reading();
  // Requests that arrived meanwhile are answered now; everything leaves in
  // one write.
  if (phase_ == Phase::kIdle) process(conn, conn.input());
  if (conn.connected()) conn.flush();
}

void Session::simple_response(net::TcpConnection& conn, StatusCode code, std::string_view allow) {
  const Request& req = state_->parser.request();
  if (req.framing != BodyFraming::kNone) {
    close_after_ = true;  // its body is not read
    lingering_close_ = true;
  }
  Response res(conn, *this, closing_after_response());
  res.status(code);
  if (!allow.empty()) res.header("Allow", allow);
  if (code == StatusCode::kNoContent) {
    res.send_head_only(0, false);
  } else {
    std::string_view reason = reason_phrase(code);
    res.header("Content-Type", "text/plain");
    // The reason phrase is static text: borrowed, not copied.
    res.send_borrowed(reason);
  }
  finish_request(conn, res.status_code(), res.body_bytes());
}

void Session::error_response(net::TcpConnection& conn, StatusCode code, std::string_view reason) {
  server_.mutable_counters().bad_requests.fetch_add(1, std::memory_order_relaxed);
  SLUICE_LOG_EVERY_MS(kInfo, 1000, "http: %d %.*s", to_int(code), static_cast<int>(reason.size()),
                      reason.data());
  info_.version_minor = 1;
  info_.head_only = false;
  close_after_ = true;  // the framing cannot be trusted any more
  lingering_close_ = true;
  Response res(conn, *this, true);
  res.status(code).header("Content-Type", "text/html");
  // "<html>...<title>400 Bad Request</title>...<h1>400 Bad Request</h1>..."
  std::string title = std::to_string(to_int(code));
  title.append(" ").append(reason_phrase(code));
  std::string body;
  body.append(kErrorBodyStart).append(title).append(kErrorBodyMiddle).append(title);
  body.append(kErrorBodyEnd);
  res.send(body);
  has_request_ = false;
  finish_request(conn, res.status_code(), res.body_bytes());
}

void Session::count_status(int status) noexcept {
  HttpCounters& c = server_.mutable_counters();
  if (status >= 500)
    c.responses_5xx.fetch_add(1, std::memory_order_relaxed);
  else if (status >= 400)
    c.responses_4xx.fetch_add(1, std::memory_order_relaxed);
}

void Session::finish_request(net::TcpConnection& conn, int status, std::uint64_t body_bytes) {
  count_status(status);
  if (const RequestLogger& log = server_.logger()) {
    log(LogRecord{has_request_ ? &state_->parser.request() : nullptr, status, body_bytes,
                  now_us(conn) - started_us_, &conn});
  }
  has_request_ = false;
  // The request's bytes go only now: the log above still read them.
  mem::InputBuffer& in = conn.input();
  in.consume(std::min(head_bytes_ + body_scanned_, in.size()));
  head_bytes_ = body_scanned_ = 0;
  release_state();
  conn.expect_input(false);
  set_gauge(conn.pending_output() > 0 ? Gauge::kWriting : Gauge::kWaiting);
  if (closing_after_response()) {
    phase_ = Phase::kClosing;
    // After an error, or with bytes still unread, a lingering close lets the
    // client read the answer instead of a reset; otherwise close once flushed.
    if (lingering_close_ || !conn.input().empty()) {
      conn.shutdown();
    } else {
      conn.close_after_flush();
    }
    return;
  }
  phase_ = Phase::kIdle;
}

}  // namespace sluice::http
