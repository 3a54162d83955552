// TcpConnection: one established TCP connection on one loop.
//
// States: open -> (closing after flush -> draining) -> closed, with
// half-closed when the peer shut down first. Output goes through an
// OutputBuffer: inside a callback, send() only appends and the connection
// flushes once when the callback returns (so pipelined replies leave in one
// write); outside callbacks, send() writes at once.
// Backpressure: above the high-water mark of pending output reading pauses;
// below the low-water mark it resumes.
// Graceful close (shutdown()): flush, shutdown(SHUT_WR), read and discard
// input until EOF or the linger timeout, close. abort() resets (RST).
// Timeouts share one intrusive wheel entry, refreshed in O(1): write timeout
// while output is pending, read timeout while the protocol expects more input,
// idle timeout otherwise.
// Lifetime: owned by a ConnectionOwner (a server's per-loop registry or a
// client). close() may be called from any callback; the object is destroyed
// later, after the callback returns, and its id goes stale at close.
// Thread rules: every member runs on the connection's loop. Other threads use
// a ConnectionHandle (connection_registry.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "sluice/base/unique_fd.h"
#include "sluice/loop/event_loop.h"
#include "sluice/mem/input_buffer.h"
#include "sluice/mem/output_buffer.h"
#include "sluice/net/close_reason.h"
#include "sluice/net/connection_handler.h"
#include "sluice/net/inet_address.h"

namespace sluice::net {

using ConnectionId = std::uint64_t;  // slot and generation; 0 is never valid

struct ConnectionOptions {
  std::size_t high_water_bytes = std::size_t{4} << 20;
  std::size_t low_water_bytes = std::size_t{1} << 20;
  std::size_t max_input_bytes = std::size_t{1} << 20;  // InputBuffer cap
  Millis idle_timeout{0};                              // 0: none
  Millis read_timeout{0};                              // while expect_input(true); 0: none
  Millis write_timeout{0};                             // while output is pending; 0: none
  Millis linger_timeout{2000};                         // graceful close: longest input drain
  bool edge_triggered = true;
  bool tcp_nodelay = true;
};

class ConnectionOwner {
 public:
  // Called on the loop after the connection closed and its callbacks ended.
  virtual void release(TcpConnection& conn) noexcept = 0;

 protected:
  ~ConnectionOwner() = default;
};

class TcpConnection : private TimerEntry {
 public:
  enum class State : std::uint8_t { kOpen, kHalfClosed, kClosingAfterFlush, kDraining, kClosed };

  TcpConnection(EventLoop& loop, UniqueFd fd, ConnectionHandler& handler,
                const ConnectionOptions& options, ConnectionId id, ConnectionOwner& owner,
                mem::BufferPool& pool = mem::BufferPool::global());
  ~TcpConnection() override;
  TcpConnection(const TcpConnection&) = delete;
  TcpConnection& operator=(const TcpConnection&) = delete;

  // Registers with the loop and calls on_open. Reading starts here.
  void start();

  ConnectionId id() const noexcept { return id_; }
  EventLoop& loop() const noexcept { return *loop_; }
  State state() const noexcept { return state_; }
  bool connected() const noexcept { return state_ != State::kClosed; }
  int fd() const noexcept { return fd_.get(); }
  InetAddress peer_address() const noexcept;
  InetAddress local_address() const noexcept;

  // Output. Fails only when the pool refuses memory (the caller may close).
  Status send(std::string_view bytes);
  void send_borrowed(std::string_view bytes);
  void send_file(mem::SharedFile file, off_t offset, std::size_t length);
  // Compose in place, then flush() (or return from the callback). flush()
  // also applies backpressure; inside a callback it only marks the output
  // for the write that follows the callback.
  mem::OutputBuffer& output() noexcept { return output_; }
  void flush();
  std::size_t pending_output() const noexcept { return output_.pending_bytes(); }
  mem::InputBuffer& input() noexcept { return input_; }

  void shutdown();  // graceful
  // Flushes, then closes without the input drain of shutdown(): for a peer
  // that has nothing more to send (a request fully read, Connection: close).
  void close_after_flush();
  void close(CloseReason reason = CloseReason::kLocalClose);  // now; output dropped
  void abort();                                               // RST

  void pause_reading();
  void resume_reading();
  bool reading_paused() const noexcept { return user_paused_ || backpressure_paused_; }
  // While true, the read timeout applies instead of the idle timeout; every
  // read restarts it.
  void expect_input(bool on);
  // Expect input with a fixed deadline (loop milliseconds, see to_millis)
  // that reads do not move: a whole request head within N seconds, however
  // slowly it trickles in. expect_input(false) clears it.
  void expect_input_until(std::int64_t deadline_ms);
  void set_idle_timeout(Millis t);
  void set_read_timeout(Millis t);

  // Context slot; only TypedHandler uses it.
  ConnectionContext* context() const noexcept { return context_.get(); }
  void set_context(std::unique_ptr<ConnectionContext> c) noexcept { context_ = std::move(c); }

 private:
  void on_events(std::uint32_t events);
  void handle_read(bool peer_hung_up);
  void handle_write();
  void after_output_change();
  void begin_drain();
  void refresh_deadline();
  void on_timer() override;
  void update_read_interest();
  bool deliver_message();

  EventLoop* loop_;
  UniqueFd fd_;
  ConnectionHandler* handler_;
  const ConnectionOptions* options_;
  ConnectionOwner* owner_;
  ConnectionId id_;
  IoWatcher watcher_;
  mem::InputBuffer input_;
  mem::OutputBuffer output_;
  std::unique_ptr<ConnectionContext> context_;
  State state_ = State::kOpen;
  std::uint8_t callback_depth_ = 0;
  bool user_paused_ = false;
  bool backpressure_paused_ = false;
  bool expecting_input_ = false;
  bool peer_eof_ = false;
  bool linger_ = true;  // the graceful close drains input after SHUT_WR
  Millis idle_timeout_;
  Millis read_timeout_;
  std::int64_t input_deadline_ms_ = 0;
};

// See connection_handler.h: GCC reports the hiding at these definitions too.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#endif
template <class Context>
void TypedHandler<Context>::on_open(TcpConnection& c) {
  auto value = make_context(c);
  if (!value) {
    c.close(CloseReason::kError);
    return;
  }
  c.set_context(std::make_unique<Holder>(std::move(value)));
  on_open(c, context(c));
}

template <class Context>
void TypedHandler<Context>::on_close(TcpConnection& c, CloseReason r) {
  if (c.context()) on_close(c, context(c), r);  // none if make_context failed
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

template <class Context>
Context& TypedHandler<Context>::context(TcpConnection& c) {
  return *static_cast<Holder*>(c.context())->value;
}

}  // namespace sluice::net
