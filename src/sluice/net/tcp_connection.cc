#include "sluice/net/tcp_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include "sluice/base/log.h"
#include "sluice/net/socket.h"

namespace sluice::net {
namespace {

CloseReason reason_for(std::error_code ec) noexcept {
  if (ec == std::errc::connection_reset || ec == std::errc::broken_pipe) return CloseReason::kReset;
  return CloseReason::kError;
}

}  // namespace

void ConnectionHandler::on_drain(TcpConnection& conn) { conn.shutdown(); }

TcpConnection::TcpConnection(EventLoop& loop, UniqueFd fd, ConnectionHandler& handler,
                             const ConnectionOptions& options, ConnectionId id,
                             ConnectionOwner& owner, mem::BufferPool& pool)
    : loop_(&loop),
      fd_(std::move(fd)),
      handler_(&handler),
      options_(&options),
      owner_(&owner),
      id_(id),
      watcher_(
          loop, fd_.get(), [this](std::uint32_t ev) { on_events(ev); }, options.edge_triggered),
      input_(pool, options.max_input_bytes),
      output_(pool),
      idle_timeout_(options.idle_timeout),
      read_timeout_(options.read_timeout) {}

TcpConnection::~TcpConnection() {
  if (scheduled()) loop_->timers().cancel(*this);
}

void TcpConnection::start() {
  if (options_->tcp_nodelay) (void)set_tcp_nodelay(fd_.get(), true);
  if (auto st = watcher_.enable_read(true); !st) {
    SLUICE_LOG_EVERY_MS(kWarn, 1000, "connection: cannot watch fd %d: %s", fd_.get(),
                        st.error().message().c_str());
    close(CloseReason::kError);
    return;
  }
  refresh_deadline();
  ++callback_depth_;
  handler_->on_open(*this);
  --callback_depth_;
  if (state_ != State::kClosed && !output_.empty()) handle_write();
}

InetAddress TcpConnection::peer_address() const noexcept { return net::peer_address(fd_.get()); }
InetAddress TcpConnection::local_address() const noexcept { return net::local_address(fd_.get()); }

Status TcpConnection::send(std::string_view bytes) {
  if (state_ == State::kClosed) return Errc::kClosed;
  if (auto st = output_.append(bytes); !st) return st;
  after_output_change();
  return {};
}

void TcpConnection::send_borrowed(std::string_view bytes) {
  if (state_ == State::kClosed) return;
  output_.append_borrowed(bytes);
  after_output_change();
}

void TcpConnection::send_file(mem::SharedFile file, off_t offset, std::size_t length) {
  if (state_ == State::kClosed) return;
  output_.append_file(std::move(file), offset, length);
  after_output_change();
}

void TcpConnection::after_output_change() { flush(); }

void TcpConnection::flush() {
  if (state_ == State::kClosed) return;
  if (!backpressure_paused_ && output_.pending_bytes() > options_->high_water_bytes) {
    backpressure_paused_ = true;
    update_read_interest();
    ++callback_depth_;
    handler_->on_high_water(*this, output_.pending_bytes());
    --callback_depth_;
    if (state_ == State::kClosed) return;
  }
  // Inside a callback the write waits until the callback returns, so that
  // every reply to one read leaves in one write.
  if (callback_depth_ > 0) return;
  if (!output_.empty() && !watcher_.writing()) handle_write();
}

void TcpConnection::on_events(std::uint32_t events) {
  if (state_ == State::kClosed) return;
  if (events & EPOLLERR) {
    close(reason_for(errno_code(socket_error(fd_.get()))));
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    if (watcher_.reading()) {
      handle_read((events & (EPOLLRDHUP | EPOLLHUP)) != 0);
    } else if (events & EPOLLHUP) {
      close(CloseReason::kReset);  // both directions are gone
      return;
    }
  }
  if (state_ != State::kClosed && (events & EPOLLOUT)) handle_write();
}

bool TcpConnection::deliver_message() {
  ++callback_depth_;
  handler_->on_message(*this, input_);
  --callback_depth_;
  if (state_ == State::kClosed) return false;
  if (!output_.empty() && !watcher_.writing()) handle_write();
  return state_ != State::kClosed;
}

void TcpConnection::handle_read(bool peer_hung_up) {
  for (;;) {
    mem::ReadResult r = input_.read_from(fd_.get(), options_->edge_triggered);
    if (r.bytes > 0) {
      if (state_ == State::kDraining) {
        input_.clear();
      } else {
        refresh_deadline();
        if (!deliver_message()) return;
      }
    }
    switch (r.kind) {
      case mem::ReadResult::Kind::kData: return;
      case mem::ReadResult::Kind::kAgain:
        // A short read ends an edge-triggered read early, but once the
        // peer's FIN is queued the edge that reported it is this one and no
        // other follows: read on to the EOF (or a real EAGAIN).
        if (peer_hung_up && r.bytes > 0 && watcher_.reading()) continue;
        return;
      case mem::ReadResult::Kind::kFull:
        if (input_.size() >= input_.max_bytes()) {
          close(CloseReason::kLimit);  // the protocol could not use a full buffer
          return;
        }
        if (!watcher_.reading()) return;  // paused by the handler or backpressure
        continue;
      case mem::ReadResult::Kind::kEof:
        peer_eof_ = true;
        if (state_ == State::kDraining) {
          close(CloseReason::kLocalClose);
          return;
        }
        if (state_ == State::kOpen) state_ = State::kHalfClosed;
        update_read_interest();
        ++callback_depth_;
        handler_->on_peer_shutdown(*this);
        --callback_depth_;
        if (state_ == State::kClosed) return;
        if (output_.empty()) {
          if (state_ == State::kHalfClosed)
            close(CloseReason::kPeerClosed);
          else if (state_ == State::kClosingAfterFlush)
            begin_drain();
        } else if (!watcher_.writing()) {
          handle_write();
        }
        return;
      case mem::ReadResult::Kind::kError: close(reason_for(r.error)); return;
    }
  }
}

void TcpConnection::handle_write() {
  mem::FlushResult r = output_.flush_to(fd_.get());
  if (r.bytes > 0) refresh_deadline();
  switch (r.kind) {
    case mem::FlushResult::Kind::kAgain: (void)watcher_.enable_write(true); break;
    case mem::FlushResult::Kind::kError: close(reason_for(r.error)); return;
    case mem::FlushResult::Kind::kDone:
      (void)watcher_.enable_write(false);
      refresh_deadline();
      ++callback_depth_;
      handler_->on_write_complete(*this);
      --callback_depth_;
      if (state_ == State::kClosed) return;
      if (!output_.empty()) return handle_write();  // the callback sent more
      if (state_ == State::kClosingAfterFlush) {
        begin_drain();
        return;
      }
      if (state_ == State::kHalfClosed) {
        close(CloseReason::kPeerClosed);
        return;
      }
      break;
  }
  if (backpressure_paused_ && output_.pending_bytes() <= options_->low_water_bytes) {
    backpressure_paused_ = false;
    update_read_interest();
  }
}

void TcpConnection::shutdown() {
  if (state_ == State::kClosed || state_ == State::kDraining || state_ == State::kClosingAfterFlush)
    return;
  state_ = State::kClosingAfterFlush;
  update_read_interest();
  if (output_.empty()) {
    begin_drain();
  } else if (callback_depth_ == 0 && !watcher_.writing()) {
    handle_write();
  }
}

void TcpConnection::close_after_flush() {
  linger_ = false;
  shutdown();
}

void TcpConnection::begin_drain() {
  if (peer_eof_ || !linger_) {
    close(CloseReason::kLocalClose);
    return;
  }
  state_ = State::kDraining;
  ::shutdown(fd_.get(), SHUT_WR);
  input_.clear();
  update_read_interest();
  loop_->timers().schedule_at(*this, to_millis(loop_->now()) + options_->linger_timeout.count());
}

void TcpConnection::close(CloseReason reason) {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  if (scheduled()) loop_->timers().cancel(*this);
  // An explicit EPOLL_CTL_DEL, not just the close: if a fork duplicated the
  // descriptor, the close alone would leave it registered.
  watcher_.close();
  if (reason == CloseReason::kAbort) (void)set_linger_zero(fd_.get());
  fd_.reset();
  input_.clear();
  output_.clear();
  ++callback_depth_;
  handler_->on_close(*this, reason);
  --callback_depth_;
  owner_->release(*this);  // destroys it later, never inside this call
}

void TcpConnection::abort() { close(CloseReason::kAbort); }

void TcpConnection::pause_reading() {
  user_paused_ = true;
  update_read_interest();
}

void TcpConnection::resume_reading() {
  user_paused_ = false;
  update_read_interest();
}

void TcpConnection::expect_input(bool on) {
  if (expecting_input_ == on && input_deadline_ms_ == 0) return;
  expecting_input_ = on;
  input_deadline_ms_ = 0;
  refresh_deadline();
}

void TcpConnection::expect_input_until(std::int64_t deadline_ms) {
  expecting_input_ = true;
  input_deadline_ms_ = deadline_ms;
  refresh_deadline();
}

void TcpConnection::set_read_timeout(Millis t) {
  read_timeout_ = t;
  refresh_deadline();
}

void TcpConnection::set_idle_timeout(Millis t) {
  idle_timeout_ = t;
  refresh_deadline();
}

void TcpConnection::update_read_interest() {
  if (state_ == State::kClosed) return;
  bool want = false;
  switch (state_) {
    case State::kOpen: want = !user_paused_ && !backpressure_paused_; break;
    case State::kDraining: want = true; break;
    case State::kHalfClosed:
    case State::kClosingAfterFlush:
    case State::kClosed: want = false; break;
  }
  if (want != watcher_.reading()) (void)watcher_.enable_read(want);
}

void TcpConnection::refresh_deadline() {
  if (state_ == State::kDraining || state_ == State::kClosed) return;
  Millis t{0};
  if (!output_.empty() && options_->write_timeout.count() > 0) {
    t = options_->write_timeout;
  } else if (expecting_input_ && input_deadline_ms_ > 0) {
    if (!scheduled() || deadline_ms() != input_deadline_ms_)
      loop_->timers().schedule_at(*this, input_deadline_ms_);
    return;
  } else if (expecting_input_ && read_timeout_.count() > 0) {
    t = read_timeout_;
  } else {
    t = idle_timeout_;
  }
  if (t.count() > 0) {
    std::int64_t deadline = to_millis(loop_->now()) + t.count();
    // Several refreshes within one loop iteration land on the same
    // millisecond: skip the relink.
    if (!scheduled() || deadline_ms() != deadline) loop_->timers().schedule_at(*this, deadline);
  } else if (scheduled()) {
    loop_->timers().cancel(*this);
  }
}

void TcpConnection::on_timer() {
  close(state_ == State::kDraining ? CloseReason::kLocalClose : CloseReason::kTimeout);
}

}  // namespace sluice::net
