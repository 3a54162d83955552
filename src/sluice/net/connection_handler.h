// What a protocol implements to receive a connection's events, and the typed
// per-connection context slot.
//
// One handler serves every connection of a server or client. With several
// loops its methods run concurrently on the loops' threads, each call for a
// connection of that loop: keep shared state in the handler thread-safe, and
// per-connection state in the context.
// Every callback may close the connection, or send on it; the TcpConnection
// reference stays valid until the callback returns.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>

#include "sluice/mem/input_buffer.h"
#include "sluice/net/close_reason.h"

namespace sluice::net {

class TcpConnection;

// Base of per-connection contexts; only TypedHandler creates and reads them.
class ConnectionContext {
 public:
  virtual ~ConnectionContext() = default;
};

class ConnectionHandler {
 public:
  virtual ~ConnectionHandler() = default;
  virtual void on_open(TcpConnection&) {}
  // Bytes arrived. Consume what you used; what is left stays for next time.
  virtual void on_message(TcpConnection&, mem::InputBuffer&) = 0;
  // The output buffer drained.
  virtual void on_write_complete(TcpConnection&) {}
  // Pending output crossed the high-water mark; reading is paused until it
  // falls below the low-water mark.
  virtual void on_high_water(TcpConnection&, std::size_t /*pending*/) {}
  // The peer shut down its side. The connection closes once pending output
  // is flushed; the handler may still send (half-close).
  virtual void on_peer_shutdown(TcpConnection&) {}
  // A server is stopping gracefully: finish what is in flight. The default
  // closes the connection gracefully once its output is flushed.
  virtual void on_drain(TcpConnection& conn);
  // Last call for the connection; its fd is already closed.
  virtual void on_close(TcpConnection&, CloseReason) {}
};

// A handler whose connections each carry a Context, created on open and
// handed to every callback by reference: no void*, no cast that can fail.
template <class Context>
class TypedHandler : public ConnectionHandler {
 public:
  // Default-constructs the context; override it for contexts that need
  // arguments (a handler that does not gets every connection closed).
  virtual std::unique_ptr<Context> make_context(TcpConnection&) {
    if constexpr (std::is_default_constructible_v<Context>) {
      return std::make_unique<Context>();
    } else {
      return nullptr;
    }
  }
  virtual void on_open(TcpConnection&, Context&) {}
  virtual void on_message(TcpConnection&, Context&, mem::InputBuffer&) = 0;
  virtual void on_write_complete(TcpConnection&, Context&) {}
  virtual void on_drain(TcpConnection& c, Context&) { ConnectionHandler::on_drain(c); }
  virtual void on_close(TcpConnection&, Context&, CloseReason) {}

 private:
  struct Holder final : ConnectionContext {
    explicit Holder(std::unique_ptr<Context> v) : value(std::move(v)) {}
    std::unique_ptr<Context> value;
  };
  // A handler that overrides the typed overloads hides these (final,
  // private) ones on purpose; GCC's -Woverloaded-virtual reports that hiding
  // at these declarations, in every user's build, so it is silenced here.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverloaded-virtual"
#endif
  void on_open(TcpConnection& c) final;
  void on_message(TcpConnection& c, mem::InputBuffer& in) final { on_message(c, context(c), in); }
  void on_write_complete(TcpConnection& c) final { on_write_complete(c, context(c)); }
  void on_drain(TcpConnection& c) final { on_drain(c, context(c)); }
  void on_close(TcpConnection& c, CloseReason r) final;
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  // Only this handler stores contexts on its connections, so the stored
  // object is always a Holder: the downcast cannot fail.
  Context& context(TcpConnection& c);
};

}  // namespace sluice::net
