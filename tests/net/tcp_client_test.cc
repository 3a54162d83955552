// TcpClient: retries with backoff, connect timeout, reconnection.
#include "sluice/net/tcp_client.h"

#include <gtest/gtest.h>

#include <string>
#include <system_error>

#include "net/test_support.h"
#include "sluice/net/tcp_server.h"

namespace sluice::net {
namespace {

using namespace test;
using namespace std::chrono_literals;

// Runs `loop` on this thread until `pred` holds or the budget runs out.
bool run_until(EventLoop& loop, const std::function<bool()>& pred, Duration budget) {
  Deadline d(budget);
  while (!pred()) {
    if (d.expired()) return false;
    loop.run_once(10ms);
  }
  return true;
}

// Records what a client connection sees.
class ClientRecorder final : public ConnectionHandler {
 public:
  void on_open(TcpConnection& c) override {
    ++opens;
    (void)c.send("hello");
  }
  void on_message(TcpConnection&, mem::InputBuffer& in) override {
    received.append(in.view());
    in.consume(in.size());
  }
  void on_close(TcpConnection&, CloseReason r) override {
    ++closes;
    last_reason = r;
  }
  int opens = 0;
  int closes = 0;
  CloseReason last_reason = CloseReason::kError;
  std::string received;
};

TEST(TcpClient, ClosedPortFailsAfterMaxAttemptsWithBackoff) {
  // A bound socket that does not listen: connects to it are refused, and the
  // port stays ours for the test.
  UniqueFd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  InetAddress bound = loopback_v4();
  ASSERT_EQ(::bind(holder.get(), bound.sockaddr_ptr(), bound.length()), 0);
  const InetAddress target = local_address(holder.get());

  EventLoop loop;
  ClientRecorder rec;
  TcpClientOptions o;
  o.max_attempts = 4;
  o.backoff_initial = Millis(40);
  o.backoff_max = Millis(1000);
  TcpClient client(loop, target, rec, o);
  bool failed = false;
  std::error_code error;
  client.set_connect_failed([&](std::error_code ec) {
    failed = true;
    error = ec;
  });
  auto t0 = Clock::now();
  client.connect();
  ASSERT_TRUE(run_until(
      loop, [&] { return failed; }, 10s))
      << "attempts " << client.attempts();
  auto took = Clock::now() - t0;
  EXPECT_EQ(client.attempts(), 4);
  EXPECT_EQ(error, std::errc::connection_refused) << error.message();
  EXPECT_EQ(client.connections_made(), 0);
  EXPECT_EQ(rec.opens, 0);
  // Three waits with equal jitter: at least 20 + 40 + 80 ms.
  EXPECT_GE(took, 140ms);
  EXPECT_LT(took, 5s);
  // No further attempt after giving up.
  loop.run_once(300ms);
  EXPECT_EQ(client.attempts(), 4);
}

TEST(TcpClient, ConnectTimesOutWhenNobodyAnswers) {
  // A listener whose accept queue is full drops new SYNs: connects hang.
  auto listener = listen_tcp(loopback_v4(), ListenOptions{1, false, true});
  ASSERT_TRUE(listener.ok());
  const InetAddress target = local_address(listener->get());
  std::vector<UniqueFd> fillers;
  for (int i = 0; i < 4; ++i) {
    auto s = start_connect(target);
    ASSERT_TRUE(s.ok());
    fillers.push_back(std::move(s->fd));
  }
  std::this_thread::sleep_for(50ms);

  EventLoop loop;
  ClientRecorder rec;
  TcpClientOptions o;
  o.connect_timeout = Millis(250);
  o.max_attempts = 1;
  TcpClient client(loop, target, rec, o);
  bool failed = false;
  std::error_code error;
  client.set_connect_failed([&](std::error_code ec) {
    failed = true;
    error = ec;
  });
  auto t0 = Clock::now();
  client.connect();
  ASSERT_TRUE(run_until(
      loop, [&] { return failed; }, 10s));
  auto took = Clock::now() - t0;
  EXPECT_EQ(error, make_error_code(Errc::kTimeout)) << error.message();
  EXPECT_EQ(client.attempts(), 1);
  EXPECT_EQ(rec.opens, 0);
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 3s);
}

TEST(TcpClient, ReconnectsAfterTheServerRestartsOnTheSamePort) {
  ignore_sigpipe_for_test();
  RecordingEcho echo1;
  auto server1 = std::make_unique<TcpServer>(local_server_options(), echo1);
  ASSERT_TRUE(server1->start().ok());
  const std::uint16_t port = server1->port();

  EventLoop loop;
  ClientRecorder rec;
  TcpClientOptions o;
  o.reconnect = true;
  o.max_attempts = 0;  // forever
  o.backoff_initial = Millis(20);
  o.backoff_max = Millis(200);
  TcpClient client(loop, loopback_v4(port), rec, o);
  client.connect();
  ASSERT_TRUE(run_until(
      loop, [&] { return rec.received == "hello"; }, 10s))
      << rec.received;
  EXPECT_EQ(client.connections_made(), 1);
  ASSERT_NE(client.connection(), nullptr);

  server1->stop(0s);
  server1.reset();
  ASSERT_TRUE(run_until(
      loop, [&] { return rec.closes == 1; }, 10s));
  EXPECT_EQ(client.connection(), nullptr);
  // It keeps trying (refused) while the port is closed.
  const int attempts_before = client.attempts();
  ASSERT_TRUE(run_until(
      loop, [&] { return client.attempts() >= attempts_before + 2; }, 10s));

  RecordingEcho echo2;
  TcpServerOptions so;
  so.listen.push_back(loopback_v4(port));
  TcpServer server2(so, echo2);
  auto st = server2.start();
  ASSERT_TRUE(st.ok()) << st.error().message();
  ASSERT_TRUE(run_until(
      loop, [&] { return rec.received == "hellohello"; }, 10s))
      << rec.received;
  EXPECT_EQ(client.connections_made(), 2);
  EXPECT_EQ(rec.opens, 2);
  EXPECT_EQ(echo2.opened.load(), 1u);

  // disconnect() closes gracefully and stops reconnecting.
  client.disconnect();
  ASSERT_TRUE(run_until(
      loop, [&] { return rec.closes == 2; }, 10s));
  const int made = client.connections_made();
  loop.run_once(300ms);
  EXPECT_EQ(client.connections_made(), made);
  EXPECT_TRUE(wait_until([&] { return server2.live_connections() == 0; }));
}

}  // namespace
}  // namespace sluice::net
