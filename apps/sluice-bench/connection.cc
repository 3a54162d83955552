#include "connection.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "options.h"
#include "sluice/net/socket.h"

namespace sluice::bench {
namespace {

constexpr std::uint32_t kFirstBackoffMs = 10;
constexpr std::uint32_t kMaxBackoffMs = 1000;

std::uint64_t to_micros(std::int64_t ns) noexcept {
  return ns > 0 ? static_cast<std::uint64_t>(ns / 1000) : 0;
}

}  // namespace

std::int64_t now_ns() noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

Connection::Connection(WorkerContext& ctx, std::uint32_t index, std::int64_t first_due_ns)
    : ctx_(ctx),
      index_(index),
      intended_(new std::int64_t[ctx.options->pipeline]),
      actual_(new std::int64_t[ctx.options->pipeline]),
      capacity_(ctx.options->pipeline),
      next_due_(first_due_ns),
      wake_(*this) {}

Connection::~Connection() { stop(); }

void Connection::start(std::int64_t now) { open(now); }

void Connection::open(std::int64_t now) {
  if (ctx_.stopping || state_ == State::kDone) return;
  if (ctx_.limited && reserved_ == 0) {
    if (budget_spent()) {
      finish();
      return;
    }
    reserved_ = std::min<std::uint64_t>(capacity_, ctx_.budget_left);
    ctx_.budget_left -= reserved_;
  }
  const net::InetAddress* source = nullptr;
  if (ctx_.sources != nullptr && !ctx_.sources->empty())
    source = &(*ctx_.sources)[index_ % ctx_.sources->size()];
  auto started = net::start_connect(ctx_.target, source);
  if (!started) {
    ++ctx_.stats->errors.connect;
    after_close(now, true);
    return;
  }
  fd_ = std::move(started->fd);
  ++ctx_.stats->connections_opened;
  ++ctx_.open_connections;
  (void)net::set_tcp_nodelay(fd_.get(), true);
  parser_.reset();
  parser_.set_head_request(ctx_.options->method == "HEAD");
  last_progress_ = now;
  watcher_.emplace(
      *ctx_.loop, fd_.get(), [this](std::uint32_t events) { on_event(events); }, true);
  if (started->connected) {
    state_ = State::kOpen;
    if (!watcher_->enable_read(true)) {
      fail(Failure::kConnect, now);
      return;
    }
    backoff_ms_ = 0;
    ctx_.ever_connected = true;
    send_more(now);
  } else {
    state_ = State::kConnecting;
    if (!watcher_->enable_write(true)) fail(Failure::kConnect, now);
  }
}

void Connection::on_event(std::uint32_t events) {
  // One clock read per readiness event: it stamps every response parsed
  // from this read and the requests sent after them.
  const std::int64_t now = now_ns();
  if (state_ == State::kConnecting) {
    if (net::socket_error(fd_.get()) != 0 || (events & (EPOLLERR | EPOLLHUP)) != 0) {
      fail(Failure::kConnect, now);
      return;
    }
    if ((events & EPOLLOUT) == 0) return;
    state_ = State::kOpen;
    backoff_ms_ = 0;
    ctx_.ever_connected = true;
    // Stays registered for EPOLLOUT: edge-triggered, it costs nothing while
    // the socket stays writable, and a partial write needs it anyway.
    if (!watcher_->enable_read(true)) {
      fail(Failure::kConnect, now);
      return;
    }
    send_more(now);
    return;
  }
  if (state_ != State::kOpen) return;
  if ((events & EPOLLOUT) != 0 && write_pos_ < write_end_) {
    if (!flush()) return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) != 0)
    on_readable(now, (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
  if (state_ == State::kOpen && write_pos_ == write_end_) send_more(now);
}

// `peer_closed`: the event said the peer's FIN (or an error) is queued, so a
// short read does not mean drained: read on to the EOF, no new edge will come.
void Connection::on_readable(std::int64_t now, bool peer_closed) {
  for (;;) {
    const ssize_t n = ::read(fd_.get(), ctx_.scratch, ctx_.scratch_size);
    if (n > 0) {
      const auto got = static_cast<std::size_t>(n);
      ctx_.stats->bytes_read += got;
      last_progress_ = now;
      if (!process(ctx_.scratch, got, now)) return;         // closed
      if (got < ctx_.scratch_size && !peer_closed) return;  // drained: a new edge brings more
      continue;
    }
    if (n == 0) {
      on_eof(now);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail(Failure::kRead, now);
    return;
  }
}

// False when the connection was closed (an error, or the server ended it).
bool Connection::process(const char* data, std::size_t size, std::int64_t now) {
  std::size_t pos = 0;
  while (pos < size) {
    const ResponseParser::Step step = parser_.feed(data + pos, size - pos);
    pos += step.consumed;
    if (step.outcome == ResponseParser::Outcome::kNeedMore) break;
    if (step.outcome == ResponseParser::Outcome::kError || outstanding_ == 0) {
      fail(Failure::kProtocol, now);  // malformed, or a response nobody asked for
      return false;
    }
    on_response(now);
    if (!parser_.keep_alive() || !ctx_.options->keepalive) {
      if (outstanding_ > 0) {  // the server ends the connection with requests unanswered
        fail(Failure::kRead, now);
        return false;
      }
      close_socket();
      after_close(now, false);
      return false;
    }
  }
  return true;
}

void Connection::on_response(std::int64_t now) {
  WorkerStats& s = *ctx_.stats;
  s.latency.record(to_micros(now - intended_[head_]));
  if (ctx_.record_uncorrected) s.latency_uncorrected.record(to_micros(now - actual_[head_]));
  head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
  --outstanding_;
  ++s.completed;
  const int code = parser_.status();
  if (code >= 0 && code < WorkerStats::kCodes)
    ++s.status[static_cast<std::size_t>(code)];
  else
    ++s.status_other;
}

void Connection::on_eof(std::int64_t now) {
  if (parser_.finish_on_eof()) {  // a body delimited by the close
    if (outstanding_ == 0) {
      fail(Failure::kProtocol, now);
      return;
    }
    on_response(now);
  }
  if (outstanding_ > 0 || !parser_.idle()) {
    fail(Failure::kRead, now);  // closed before every response was complete
    return;
  }
  close_socket();  // an idle keep-alive connection closed by the server
  after_close(now, false);
}

void Connection::send_more(std::int64_t now) {
  if (state_ != State::kOpen || write_pos_ < write_end_) return;
  const std::uint32_t pipeline = capacity_;
  std::uint64_t k;
  if (ctx_.interval_ns == 0) {
    // Closed loop: a new batch when the previous one is answered.
    if (outstanding_ > 0) return;
    k = pipeline;
  } else {
    const std::uint32_t room = pipeline - outstanding_;
    if (room == 0) return;
    if (now < next_due_) {
      if (!budget_spent() || reserved_ > 0)
        wake_at(next_due_);
      else if (outstanding_ == 0)
        finish();
      return;
    }
    const auto due = static_cast<std::uint64_t>((now - next_due_) / ctx_.interval_ns) + 1;
    k = std::min<std::uint64_t>(room, due);
  }
  if (reserved_ > 0) {
    k = std::min(k, reserved_);
    reserved_ -= k;
  } else if (ctx_.limited) {
    k = std::min(k, ctx_.budget_left);
    if (k == 0) {
      if (outstanding_ == 0) finish();
      return;
    }
    ctx_.budget_left -= k;
  }
  if (outstanding_ == 0) last_progress_ = now;
  ctx_.stats->sent += k;
  std::uint32_t slot = head_ + outstanding_;
  for (std::uint64_t i = 0; i < k; ++i, ++slot) {
    if (slot >= capacity_) slot -= capacity_;
    actual_[slot] = now;
    if (ctx_.interval_ns == 0) {
      intended_[slot] = now;
    } else {
      intended_[slot] = next_due_;
      next_due_ += ctx_.interval_ns;
    }
  }
  outstanding_ += static_cast<std::uint32_t>(k);
  write_pos_ = 0;
  write_end_ = static_cast<std::size_t>(k) * ctx_.request_size;
  if (!flush()) return;
  if (ctx_.interval_ns != 0 && outstanding_ < pipeline && state_ == State::kOpen &&
      (!budget_spent() || reserved_ > 0))
    wake_at(next_due_);
}

// Writes the pending part of the batch. False when the connection closed.
bool Connection::flush() {
  while (write_pos_ < write_end_) {
    const ssize_t n = ::send(fd_.get(), ctx_.batch.data() + write_pos_, write_end_ - write_pos_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      write_pos_ += static_cast<std::size_t>(n);
      ctx_.stats->bytes_written += static_cast<std::uint64_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!watcher_->writing() && !watcher_->enable_write(true)) {
        fail(Failure::kWrite, now_ns());
        return false;
      }
      return true;
    }
    fail(Failure::kWrite, now_ns());
    return false;
  }
  write_pos_ = write_end_ = 0;
  if (!ctx_.options->wait_for_reply) {
    // webbench -f: a request counts once written; no reply is awaited.
    ctx_.stats->completed += outstanding_;
    outstanding_ = 0;
    head_ = 0;
    close_socket();
    after_close(now_ns(), false);
    return false;
  }
  return true;
}

void Connection::fail(Failure why, std::int64_t now) {
  ErrorCounts& e = ctx_.stats->errors;
  switch (why) {
    case Failure::kConnect: ++e.connect; break;
    case Failure::kRead: ++e.read; break;
    case Failure::kWrite: ++e.write; break;
    case Failure::kTimeout: ++e.timeout; break;
    case Failure::kProtocol: ++e.protocol; break;
  }
  ctx_.stats->lost += outstanding_;
  const bool was_connecting = state_ == State::kConnecting || why == Failure::kConnect;
  close_socket();
  after_close(now, was_connecting);
}

void Connection::close_socket() noexcept {
  if (!fd_.valid()) return;
  watcher_.reset();  // unregisters before the descriptor closes
  fd_.reset();
  --ctx_.open_connections;
  outstanding_ = 0;
  head_ = 0;
  write_pos_ = write_end_ = 0;
  if (state_ != State::kDone) state_ = State::kClosed;
}

// Opens the next connection: after a backoff when connecting failed, else on
// the next loop iteration (posted, so a server that closes at once cannot
// recurse or starve the loop).
void Connection::after_close(std::int64_t now, bool backoff) {
  if (state_ == State::kDone) return;
  if (ctx_.stopping) {
    state_ = State::kDone;
    return;
  }
  if (budget_spent() && reserved_ == 0) {
    finish();
    return;
  }
  if (backoff) {
    backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
    wake_at(now + std::int64_t{backoff_ms_} * 1'000'000);
    return;
  }
  if (reconnect_posted_) return;
  reconnect_posted_ = true;
  ctx_.loop->post([this] {
    reconnect_posted_ = false;
    if (state_ == State::kClosed) open(now_ns());
  });
}

void Connection::finish() noexcept {
  if (state_ == State::kDone) return;
  ctx_.budget_left += reserved_;
  reserved_ = 0;
  close_socket();
  ctx_.loop->timers().cancel(wake_);
  state_ = State::kDone;
  ++ctx_.done_connections;
  if (ctx_.on_connection_done != nullptr) ctx_.on_connection_done(ctx_.worker);
}

void Connection::on_wake() {
  const std::int64_t now = now_ns();
  if (state_ == State::kClosed)
    open(now);
  else if (state_ == State::kOpen)
    send_more(now);
}

void Connection::wake_at(std::int64_t ns) noexcept {
  const std::int64_t ms = (ns + 999'999) / 1'000'000;  // never early
  ctx_.loop->timers().schedule_at(wake_, ms);
}

void Connection::check_timeout(std::int64_t now) {
  const bool waiting = state_ == State::kConnecting || (state_ == State::kOpen && outstanding_ > 0);
  if (waiting && now - last_progress_ > ctx_.timeout_ns) fail(Failure::kTimeout, now);
}

void Connection::stop() noexcept {
  if (state_ == State::kDone && !fd_.valid()) return;
  ctx_.stats->unfinished += outstanding_;
  close_socket();
  if (wake_.scheduled()) ctx_.loop->timers().cancel(wake_);
  state_ = State::kDone;
}

}  // namespace sluice::bench
