// Connection: one client connection's state machine, on its worker's loop.
//
//   closed --open--> connecting --writable--> open --response...--> open
//     ^                  |                     |
//     +---- error, server close, or Connection: close (reconnect) ---+
//   done: the request budget is spent (-n) or the run stopped.
//
// The socket is registered edge-triggered; reads go to the worker's shared
// scratch buffer until a short read (the socket is drained: no EAGAIN read),
// and every byte is fed to the incremental ResponseParser, so a connection
// holds no read buffer. Requests are sent from the worker's pre-rendered
// batch (the request repeated --pipeline times): one send() per batch, and a
// partial write just remembers its offset. Send times live in a small ring
// (one slot per request in flight) allocated with the connection: nothing is
// allocated per request.
// Thread rules: created, used and destroyed on its worker's loop thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "response_parser.h"
#include "results.h"
#include "sluice/base/unique_fd.h"
#include "sluice/loop/event_loop.h"
#include "sluice/net/inet_address.h"

namespace sluice::bench {

struct Options;

// What the connections of one worker share; owned by the worker.
struct WorkerContext {
  EventLoop* loop = nullptr;
  const Options* options = nullptr;
  std::string_view batch;        // the request, `pipeline` times
  std::size_t request_size = 0;  // bytes of one request
  net::InetAddress target;
  const std::vector<net::InetAddress>* sources = nullptr;
  WorkerStats* stats = nullptr;
  char* scratch = nullptr;  // the read buffer, shared by the worker's connections
  std::size_t scratch_size = 0;
  bool limited = false;  // -n: budget_left counts down
  std::uint64_t budget_left = 0;
  std::int64_t interval_ns = 0;  // --rate: time between a connection's requests
  std::int64_t timeout_ns = 0;
  bool stopping = false;
  bool ever_connected = false;  // a connection of this worker got through
  bool record_uncorrected = false;
  std::uint32_t open_connections = 0;
  std::uint32_t done_connections = 0;
  void (*on_connection_done)(void* worker) = nullptr;  // called when a connection is done
  void* worker = nullptr;
};

// Nanoseconds on the steady clock.
std::int64_t now_ns() noexcept;

class Connection {
 public:
  // `first_due_ns`: when its first request is due (--rate staggers them).
  Connection(WorkerContext& ctx, std::uint32_t index, std::int64_t first_due_ns);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  void start(std::int64_t now);
  // The run ended: in-flight requests count as unfinished; closes.
  void stop() noexcept;
  // A connect or a response stalled longer than --timeout is an error.
  void check_timeout(std::int64_t now);
  bool done() const noexcept { return state_ == State::kDone; }

 private:
  enum class State { kClosed, kConnecting, kOpen, kDone };
  enum class Failure { kConnect, kRead, kWrite, kTimeout, kProtocol };

  struct Wake final : TimerEntry {
    explicit Wake(Connection& c) noexcept : conn(c) {}
    void on_timer() override { conn.on_wake(); }
    Connection& conn;
  };

  void open(std::int64_t now);
  void on_event(std::uint32_t events);
  void on_readable(std::int64_t now, bool peer_closed);
  bool process(const char* data, std::size_t size, std::int64_t now);
  void on_response(std::int64_t now);
  void on_eof(std::int64_t now);
  void send_more(std::int64_t now);
  bool flush();
  void fail(Failure why, std::int64_t now);
  void close_socket() noexcept;
  void after_close(std::int64_t now, bool backoff);
  void finish() noexcept;
  void on_wake();
  void wake_at(std::int64_t ns) noexcept;
  bool budget_spent() const noexcept { return ctx_.limited && ctx_.budget_left == 0; }

  WorkerContext& ctx_;
  std::uint32_t index_;
  State state_ = State::kClosed;
  UniqueFd fd_;
  std::optional<IoWatcher> watcher_;
  ResponseParser parser_;
  // Send times of the requests in flight: a ring of `capacity_` slots.
  std::unique_ptr<std::int64_t[]> intended_;
  std::unique_ptr<std::int64_t[]> actual_;
  std::uint32_t capacity_;
  std::uint32_t head_ = 0;
  std::uint32_t outstanding_ = 0;
  // Pending bytes of the batch: [write_pos_, write_end_).
  std::size_t write_pos_ = 0;
  std::size_t write_end_ = 0;
  std::int64_t next_due_;  // --rate: intended time of the next request
  std::int64_t last_progress_ = 0;
  std::uint32_t backoff_ms_ = 0;
  bool reconnect_posted_ = false;
  // -n: the first batch is taken from the budget when the connection opens,
  // so no connection opens (or reopens) for requests another one then sends;
  // given back if the connection ends without sending it.
  std::uint64_t reserved_ = 0;
  Wake wake_;
};

}  // namespace sluice::bench
