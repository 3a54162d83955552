// TcpConnection behaviour seen from a raw client: half-close, resets, closing
// inside callbacks, abort, idle timeout, backpressure, handles, typed
// contexts.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/test_support.h"
#include "sluice/loop/loop_thread.h"
#include "sluice/net/acceptor.h"
#include "sluice/net/connection_registry.h"
#include "sluice/net/tcp_server.h"

namespace sluice::net {
namespace {

using namespace test;
using namespace std::chrono_literals;

// Starts `server`, connects one raw client to it.
UniqueFd start_and_connect(TcpServer& server, const Deadline& d, int rcvbuf = 0) {
  if (!server.start().ok()) return {};
  return connect_raw(loopback_v4(server.port()), d, nullptr, rcvbuf);
}

bool wait_closed(RecordingEcho& h, std::uint64_t n, TcpServer& server) {
  return wait_until([&] { return h.closed.load() >= n && server.live_connections() == 0; }, 10s);
}

TEST(TcpConnection, HalfCloseGetsEveryEchoThenEofAndPeerClosedReason) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServer server(local_server_options(), echo);
  Deadline d(20s);
  UniqueFd c = start_and_connect(server, d);
  ASSERT_TRUE(c.valid());
  const std::string sent = pattern(1, 0, 300 * 1024);
  ASSERT_TRUE(send_all(c.get(), sent, d));
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  ReadOutcome r = read_until_eof(c.get(), d);
  EXPECT_TRUE(r.eof) << "error " << r.error << " timed out " << r.timed_out;
  EXPECT_EQ(r.data.size(), sent.size());
  EXPECT_TRUE(r.data == sent);
  ASSERT_TRUE(wait_closed(echo, 1, server));
  ASSERT_EQ(echo.close_reasons().size(), 1u);
  EXPECT_EQ(echo.close_reasons()[0], CloseReason::kPeerClosed);
}

TEST(TcpConnection, ResetByPeerIsReportedAsReset) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServer server(local_server_options(), echo);
  Deadline d(20s);
  UniqueFd c = start_and_connect(server, d);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(echo_round_trip(c.get(), "hello", d));
  ASSERT_TRUE(set_linger_zero(c.get()).ok());
  c.reset();  // RST
  ASSERT_TRUE(wait_closed(echo, 1, server));
  EXPECT_EQ(echo.close_reasons().at(0), CloseReason::kReset) << to_string(echo.close_reasons()[0]);
}

enum class CloseIn { kOpen, kMessage, kWriteComplete };

// Closes inside the chosen callback, then pokes at the closed connection:
// every call must be harmless.
void close_and_poke(TcpConnection& c) {
  c.close();
  c.close();
  EXPECT_FALSE(c.connected());
  EXPECT_FALSE(c.send("after close").ok());
  c.send_borrowed("after close");
  c.shutdown();
  c.abort();
  c.flush();
  c.pause_reading();
  c.resume_reading();
  c.expect_input(true);
}

void expect_close_inside(CloseIn where) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  std::atomic<int> callbacks_after_close{0};
  std::atomic<int> closes_in_callback{0};
  switch (where) {
    case CloseIn::kOpen:
      echo.on_open_hook = [&](TcpConnection& c) {
        close_and_poke(c);
        ++closes_in_callback;
      };
      echo.on_message_hook = [&](TcpConnection&, mem::InputBuffer&) {
        ++callbacks_after_close;
        return false;
      };
      break;
    case CloseIn::kMessage:
      echo.on_message_hook = [&](TcpConnection& c, mem::InputBuffer&) {
        if (!c.connected()) ++callbacks_after_close;
        EXPECT_TRUE(c.send("partial reply").ok());  // dropped by the close
        close_and_poke(c);
        ++closes_in_callback;
        return true;
      };
      echo.on_write_complete_hook = [&](TcpConnection&) { ++callbacks_after_close; };
      break;
    case CloseIn::kWriteComplete:
      echo.on_write_complete_hook = [&](TcpConnection& c) {
        if (!c.connected()) ++callbacks_after_close;
        close_and_poke(c);
        ++closes_in_callback;
      };
      break;
  }
  TcpServer server(local_server_options(2), echo);
  ASSERT_TRUE(server.start().ok());
  constexpr int kConnections = 40;
  for (int i = 0; i < kConnections; ++i) {
    Deadline d(10s);
    UniqueFd c = connect_raw(loopback_v4(server.port()), d);
    ASSERT_TRUE(c.valid());
    std::string msg = "message " + std::to_string(i);
    (void)send_all(c.get(), msg, d);  // may fail once the server closed
    ReadOutcome r = read_until_eof(c.get(), d);
    EXPECT_FALSE(r.timed_out) << "connection " << i << " was not closed";
    EXPECT_TRUE(r.eof || r.error == ECONNRESET) << r.error;
    if (where == CloseIn::kWriteComplete) {
      EXPECT_EQ(r.data, msg);  // the echo left before the close
    } else {
      EXPECT_TRUE(r.data.empty()) << r.data;  // output is dropped by close()
    }
  }
  ASSERT_TRUE(wait_closed(echo, kConnections, server)) << echo.closed.load();
  EXPECT_EQ(closes_in_callback.load(), kConnections);
  EXPECT_EQ(callbacks_after_close.load(), 0);
  EXPECT_EQ(echo.closed.load(), static_cast<std::uint64_t>(kConnections));
  EXPECT_TRUE(echo.each_closed_once());
  for (CloseReason r : echo.close_reasons()) EXPECT_EQ(r, CloseReason::kLocalClose);
}

TEST(TcpConnection, CloseInsideOnOpenIsSafe) { expect_close_inside(CloseIn::kOpen); }
TEST(TcpConnection, CloseInsideOnMessageIsSafe) { expect_close_inside(CloseIn::kMessage); }
TEST(TcpConnection, CloseInsideOnWriteCompleteIsSafe) {
  expect_close_inside(CloseIn::kWriteComplete);
}

TEST(TcpConnection, AbortSendsResetToThePeer) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  echo.on_message_hook = [](TcpConnection& c, mem::InputBuffer& in) {
    in.consume(in.size());
    c.abort();
    return true;
  };
  TcpServer server(local_server_options(), echo);
  Deadline d(10s);
  UniqueFd c = start_and_connect(server, d);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c.get(), "reset me", d));
  ReadOutcome r = read_until_eof(c.get(), d);
  EXPECT_EQ(r.error, ECONNRESET) << "eof " << r.eof << " timed out " << r.timed_out;
  EXPECT_FALSE(r.eof);
  ASSERT_TRUE(wait_closed(echo, 1, server));
  EXPECT_EQ(echo.close_reasons().at(0), CloseReason::kAbort);
}

TEST(TcpConnection, IdleTimeoutClosesQuietConnectionsOnlyWithTimeoutReason) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServerOptions so = local_server_options();
  so.connection.idle_timeout = Millis(300);
  TcpServer server(so, echo);
  ASSERT_TRUE(server.start().ok());
  const InetAddress addr = loopback_v4(server.port());

  // A quiet connection is closed after the timeout, not before.
  auto t0 = Clock::now();
  Deadline d(10s);
  UniqueFd quiet = connect_raw(addr, d);
  ASSERT_TRUE(quiet.valid());
  // A busy one, talking every 100 ms for 900 ms, is kept alive meanwhile.
  UniqueFd busy = connect_raw(addr, d);
  ASSERT_TRUE(busy.valid());
  for (int i = 0; i < 9; ++i) {
    ASSERT_TRUE(echo_round_trip(busy.get(), "ping", d)) << "busy connection closed at round " << i;
    std::this_thread::sleep_for(100ms);
  }
  ReadOutcome q = read_until_eof(quiet.get(), d);
  EXPECT_TRUE(q.eof);
  EXPECT_GE(Clock::now() - t0, 300ms);

  // Then the busy one goes quiet and is closed too.
  auto t1 = Clock::now();
  ReadOutcome b = read_until_eof(busy.get(), d);
  EXPECT_TRUE(b.eof);
  auto quiet_for = Clock::now() - t1;
  EXPECT_GE(quiet_for, 150ms);  // the last reply refreshed the deadline
  EXPECT_LT(quiet_for, 5s);
  ASSERT_TRUE(wait_closed(echo, 2, server));
  for (CloseReason r : echo.close_reasons()) EXPECT_EQ(r, CloseReason::kTimeout) << to_string(r);
}

// Echo that records how much output it ever held and how often reading paused.
class BackpressureEcho final : public ConnectionHandler {
 public:
  void on_open(TcpConnection& c) override {
    // Small kernel buffers on the server side so the test sees the pool's
    // side of backpressure, not megabytes of socket buffers.
    (void)set_send_buffer(c.fd(), 32 * 1024);
    (void)set_receive_buffer(c.fd(), 32 * 1024);
  }
  void on_message(TcpConnection& c, mem::InputBuffer& in) override {
    bytes_in += in.size();
    largest_read = std::max<std::size_t>(largest_read, in.size());
    if (!c.send(in.view())) {
      c.close(CloseReason::kError);
      return;
    }
    in.consume(in.size());
    max_pending = std::max<std::size_t>(max_pending, c.pending_output());
  }
  void on_high_water(TcpConnection& c, std::size_t pending) override {
    ++high_water_events;
    paused_now = c.reading_paused();
    max_pending = std::max<std::size_t>(max_pending, pending);
  }
  void on_close(TcpConnection&, CloseReason r) override {
    reason = r;
    closed = true;
  }

  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::size_t> largest_read{0};
  std::atomic<std::size_t> max_pending{0};
  std::atomic<int> high_water_events{0};
  std::atomic<bool> paused_now{false};
  std::atomic<bool> closed{false};
  std::atomic<CloseReason> reason{CloseReason::kError};
};

TEST(TcpConnection, BackpressureBoundsPendingOutputAndPausesReadingThenAllBytesArrive) {
  ignore_sigpipe_for_test();
  BackpressureEcho echo;
  TcpServerOptions so = local_server_options();
  so.connection.high_water_bytes = 256 * 1024;
  so.connection.low_water_bytes = 64 * 1024;
  so.connection.max_input_bytes = 64 * 1024;  // one read delivers at most this
  TcpServer server(so, echo);
  ASSERT_TRUE(server.start().ok());

  // A client with small buffers that sends and does not read.
  Deadline d(60s);
  UniqueFd c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(set_receive_buffer(c.get(), 32 * 1024).ok());
  ASSERT_TRUE(set_send_buffer(c.get(), 32 * 1024).ok());
  const InetAddress addr = loopback_v4(server.port());
  ASSERT_TRUE(::connect(c.get(), addr.sockaddr_ptr(), addr.length()) == 0 || errno == EINPROGRESS);

  constexpr std::size_t kTotal = std::size_t{16} << 20;
  constexpr std::uint64_t kStream = 77;
  std::size_t sent = 0;
  char buf[65536];
  auto send_more = [&] {
    std::size_t n = std::min(sizeof buf, kTotal - sent);
    for (std::size_t k = 0; k < n; ++k) buf[k] = pattern_byte(kStream, sent + k);
    ssize_t w = ::send(c.get(), buf, n, MSG_NOSIGNAL);
    if (w > 0) sent += static_cast<std::size_t>(w);
    return w > 0;
  };
  // Phase 1: send until no progress for 300 ms.
  auto last_progress = Clock::now();
  while (sent < kTotal && Clock::now() - last_progress < 300ms && !d.expired()) {
    if (send_more()) {
      last_progress = Clock::now();
    } else {
      pollfd p{c.get(), POLLOUT, 0};
      ::poll(&p, 1, 20);
    }
  }
  ASSERT_LT(sent, kTotal) << "the server never pushed back";
  EXPECT_GE(echo.high_water_events.load(), 1);
  EXPECT_TRUE(echo.paused_now.load()) << "reading not paused at the high-water mark";
  const std::size_t bound = so.connection.high_water_bytes + so.connection.max_input_bytes;
  EXPECT_LE(echo.max_pending.load(), bound);
  // Reading stays paused: the server takes nothing more while we do not read.
  std::uint64_t in1 = echo.bytes_in.load();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(echo.bytes_in.load(), in1);

  // Phase 2: drain while sending the rest; every byte comes back in order.
  std::size_t received = 0;
  std::size_t mismatch_at = kTotal;
  while (received < kTotal && !d.expired() && mismatch_at == kTotal) {
    short want = POLLIN;
    if (sent < kTotal) want = static_cast<short>(want | POLLOUT);
    pollfd p{c.get(), want, 0};
    ::poll(&p, 1, d.poll_ms(100));
    if ((p.revents & POLLOUT) && sent < kTotal) send_more();
    for (;;) {
      ssize_t n = ::recv(c.get(), buf, sizeof buf, 0);
      if (n <= 0) break;
      for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
        if (buf[k] != pattern_byte(kStream, received + k)) {
          mismatch_at = received + k;
          break;
        }
      }
      received += static_cast<std::size_t>(n);
    }
  }
  EXPECT_EQ(mismatch_at, kTotal) << "first wrong byte";
  EXPECT_EQ(sent, kTotal);
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(echo.bytes_in.load(), kTotal);
  EXPECT_LE(echo.max_pending.load(), bound);
  EXPECT_LE(echo.largest_read.load(), so.connection.max_input_bytes);
  c.reset();
  EXPECT_TRUE(wait_until([&] { return echo.closed.load(); }, 10s));
}

// A loop thread with its own acceptor and registry, so the test can hold
// ConnectionHandles.
class RegistryFixture {
 public:
  explicit RegistryFixture(ConnectionHandler& handler) {
    run_sync([&] {
      registry_ = std::make_unique<ConnectionRegistry>(thread_.loop(), handler, options_);
      auto fd = listen_tcp(loopback_v4());
      ASSERT_TRUE(fd.ok());
      port_ = local_address(fd->get()).port();
      acceptor_ = std::make_unique<Acceptor>(thread_.loop(), std::move(*fd), [this](UniqueFd conn) {
        registry_->add(std::move(conn));
      });
      ASSERT_TRUE(acceptor_->start().ok());
    });
  }
  ~RegistryFixture() { destroy(); }
  void destroy() {
    run_sync([&] {
      acceptor_.reset();
      registry_.reset();
    });
  }

  template <class F>
  void run_sync(F fn) {
    std::promise<void> done;
    auto fut = done.get_future();
    thread_.loop().post([&] {
      fn();
      done.set_value();
    });
    ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  }
  std::size_t live() {
    std::size_t n = 0;
    run_sync([&] { n = registry_->live(); });
    return n;
  }
  ConnectionRegistry& registry() { return *registry_; }
  std::uint16_t port() const { return port_; }

 private:
  ConnectionOptions options_;
  LoopThread thread_{"test-loop"};
  std::unique_ptr<ConnectionRegistry> registry_;
  std::unique_ptr<Acceptor> acceptor_;
  std::uint16_t port_ = 0;
};

TEST(ConnectionHandle, LiveHandleSendsCrossThreadAndStaleHandleDoesNothing) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  std::mutex mu;
  std::vector<ConnectionId> ids;
  echo.on_open_hook = [&](TcpConnection& c) {
    std::lock_guard<std::mutex> lock(mu);
    ids.push_back(c.id());
  };
  auto id_at = [&](std::size_t i) {
    std::lock_guard<std::mutex> lock(mu);
    return i < ids.size() ? ids[i] : ConnectionId{0};
  };
  RegistryFixture fx(echo);
  Deadline d(20s);
  const InetAddress addr = loopback_v4(fx.port());

  UniqueFd a = connect_raw(addr, d);
  ASSERT_TRUE(a.valid());
  ASSERT_TRUE(wait_until([&] { return id_at(0) != 0; }));
  ConnectionHandle ha(fx.registry(), id_at(0));
  ha.send("from another thread");
  EXPECT_EQ(read_some(a.get(), 19, d).data, "from another thread");
  std::atomic<int> posted_ran{0};
  ha.post([&](TcpConnection& c) {
    EXPECT_TRUE(c.loop().in_loop_thread());
    ++posted_ran;
  });
  EXPECT_TRUE(wait_until([&] { return posted_ran.load() == 1; }));

  // A closes; B takes the same slot with a new generation.
  a.reset();
  ASSERT_TRUE(wait_until([&] { return fx.live() == 0; }));
  UniqueFd b = connect_raw(addr, d);
  ASSERT_TRUE(b.valid());
  ASSERT_TRUE(wait_until([&] { return id_at(1) != 0; }));
  const ConnectionId idb = id_at(1);
  EXPECT_NE(idb, id_at(0));
  EXPECT_EQ(static_cast<std::uint32_t>(idb), static_cast<std::uint32_t>(id_at(0)))
      << "the slot was not reused; the stale-handle check below would prove less";
  ConnectionHandle hb(fx.registry(), idb);

  ha.send("stale");
  ha.post([&](TcpConnection&) { ++posted_ran; });
  ha.close();
  hb.send("fresh");  // posted after the stale ones: it arrives after them, if they arrived
  EXPECT_EQ(read_some(b.get(), 5, d).data, "fresh");
  ReadOutcome extra = read_some(b.get(), 1, Deadline(200ms));
  EXPECT_TRUE(extra.data.empty()) << extra.data;
  EXPECT_FALSE(extra.eof) << "the stale close() closed the new connection";
  EXPECT_EQ(posted_ran.load(), 1);

  // A live handle's close() is graceful: the peer reads EOF.
  hb.close();
  ReadOutcome end = read_until_eof(b.get(), d);
  EXPECT_TRUE(end.eof);
  b.reset();
  ASSERT_TRUE(wait_until([&] { return fx.live() == 0; }));

  // Handles outliving the registry, and empty handles, do nothing.
  fx.destroy();
  hb.send("registry gone");
  hb.post([&](TcpConnection&) { ++posted_ran; });
  ConnectionHandle empty;
  empty.send("nothing");
  empty.close();
  fx.run_sync([] {});  // the posted tasks have run
  EXPECT_EQ(posted_ran.load(), 1);
}

struct PerConnection {
  static inline std::atomic<int> made{0};
  static inline std::atomic<int> destroyed{0};
  PerConnection() { ++made; }
  ~PerConnection() { ++destroyed; }
  PerConnection(const PerConnection&) = delete;
  PerConnection& operator=(const PerConnection&) = delete;
  ConnectionId id = 0;
  std::uint64_t bytes = 0;
  int opens = 0;
};

class CountingHandler final : public TypedHandler<PerConnection> {
 public:
  std::unique_ptr<PerConnection> make_context(TcpConnection& c) override {
    auto ctx = std::make_unique<PerConnection>();
    ctx->id = c.id();
    return ctx;
  }
  void on_open(TcpConnection& c, PerConnection& ctx) override {
    EXPECT_EQ(ctx.id, c.id());
    ++ctx.opens;
  }
  void on_message(TcpConnection& c, PerConnection& ctx, mem::InputBuffer& in) override {
    EXPECT_EQ(ctx.id, c.id()) << "another connection's context";
    ctx.bytes += in.size();
    (void)c.send(in.view());
    in.consume(in.size());
  }
  void on_close(TcpConnection& c, PerConnection& ctx, CloseReason) override {
    EXPECT_EQ(ctx.id, c.id());
    EXPECT_EQ(ctx.opens, 1);
    std::lock_guard<std::mutex> lock(mu_);
    bytes_per_connection_.push_back(ctx.bytes);
  }
  std::vector<std::uint64_t> bytes_per_connection() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_per_connection_;
  }

 private:
  std::mutex mu_;
  std::vector<std::uint64_t> bytes_per_connection_;
};

TEST(TypedHandler, ContextIsCreatedUsedAndDestroyedPerConnection) {
  ignore_sigpipe_for_test();
  CountingHandler handler;
  TcpServer server(local_server_options(2), handler);
  ASSERT_TRUE(server.start().ok());
  constexpr int kConnections = 24;
  Deadline d(20s);
  std::vector<UniqueFd> clients;
  std::vector<std::uint64_t> expected;
  // All open at once, so contexts of different connections coexist.
  for (int i = 0; i < kConnections; ++i) {
    clients.push_back(connect_raw(loopback_v4(server.port()), d));
    ASSERT_TRUE(clients.back().valid());
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < kConnections; ++i) {
      ASSERT_TRUE(echo_round_trip(
          clients[static_cast<std::size_t>(i)].get(),
          pattern(static_cast<std::uint64_t>(i), 0, 100 * static_cast<std::size_t>(i + 1)), d));
    }
  }
  for (int i = 0; i < kConnections; ++i)
    expected.push_back(300u * static_cast<std::uint64_t>(i + 1));
  EXPECT_EQ(PerConnection::made.load(), kConnections);
  EXPECT_EQ(PerConnection::destroyed.load(), 0);
  clients.clear();
  ASSERT_TRUE(wait_until([&] { return PerConnection::destroyed.load() == kConnections; }))
      << PerConnection::destroyed.load();
  std::vector<std::uint64_t> got = handler.bytes_per_connection();
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, expected);
  EXPECT_EQ(PerConnection::made.load(), kConnections);
}

}  // namespace
}  // namespace sluice::net
