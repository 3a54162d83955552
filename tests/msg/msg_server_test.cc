// The msg server and client over real sockets on 127.0.0.1.
#include "sluice/msg/msg_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "msg/msg_test_support.h"

namespace sluice::msg {
namespace {

using namespace test;
using net::test::connect_raw;
using net::test::loopback_v4;
using net::test::read_some;
using net::test::send_all;
using net::test::wait_until;

class MsgServerTest : public ::testing::Test {
 protected:
  void SetUp() override { net::test::ignore_sigpipe_for_test(); }
};

TEST_F(MsgServerTest, EchoesTenThousandFramesSentInOneWriteWithZeroLengthBodies) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);
  ASSERT_TRUE(server.start());
  std::string stream;
  for (int i = 0; i < 10'000; ++i) stream += frame(kEchoId, i % 3 == 0 ? "" : std::to_string(i));
  Deadline d(20s);
  UniqueFd c = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c.get(), stream, d));
  auto r = read_some(c.get(), stream.size(), d);
  ASSERT_EQ(r.data.size(), stream.size());
  EXPECT_TRUE(r.data == stream);
  EXPECT_TRUE(wait_until([&] { return server.stats().frames_in == 10'000; }));
  EXPECT_EQ(server.stats().frames_out, 10'000u);
  EXPECT_EQ(server.stats().protocol_errors(), 0u);
  server.stop(0ms);
}

TEST_F(MsgServerTest, MaximumBodyIsEchoedAndOneByteOverClosesWithACounter) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);  // default limit: 64 KiB
  ASSERT_TRUE(server.start());
  Deadline d(20s);
  UniqueFd c = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(c.valid());
  const std::string max = frame(kEchoId, net::test::pattern(1, 0, kDefaultMaxBody));
  ASSERT_TRUE(send_all(c.get(), max, d));
  auto r = read_some(c.get(), max.size(), d);
  ASSERT_TRUE(r.data == max) << "got " << r.data.size() << " bytes";

  const std::string over = frame(kEchoId, std::string(kDefaultMaxBody + 1, 'o'));
  (void)send_all(c.get(), over, d);  // may fail part-way: the server closes
  EXPECT_TRUE(closed_by_peer(c.get(), d));
  EXPECT_TRUE(wait_until([&] { return server.stats().closed == 1; }));
  EXPECT_EQ(server.stats().bad_length, 1u);
  server.stop(0ms);
}

TEST_F(MsgServerTest, ConfiguredBodyLimitAboveTheLargestBlockIsRefused) {
  auto router = echo_router();
  MsgServerOptions o = local_options();
  o.max_body_bytes = kMaxBodyLimit + 1;
  MsgServer server(o, *router);
  EXPECT_FALSE(server.start());
}

TEST_F(MsgServerTest, GarbageMagicClosesThatConnectionOnly) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);
  ASSERT_TRUE(server.start());
  Deadline d(20s);
  UniqueFd good = connect_raw(loopback_v4(server.port()), d);
  UniqueFd bad = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(good.valid() && bad.valid());
  ASSERT_TRUE(send_all(bad.get(), "GET / HTTP/1.1\r\nHost: x\r\n\r\n", d));
  EXPECT_TRUE(closed_by_peer(bad.get(), d));
  EXPECT_TRUE(wait_until([&] { return server.stats().bad_magic == 1; }));
  const std::string f = frame(kEchoId, "still here");
  ASSERT_TRUE(send_all(good.get(), f, d));
  EXPECT_EQ(read_some(good.get(), f.size(), d).data, f);
  EXPECT_EQ(server.stats().closed, 1u);
  server.stop(0ms);
}

TEST_F(MsgServerTest, BadVersionAndReservedFlagsClose) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);
  ASSERT_TRUE(server.start());
  Deadline d(20s);
  RawFrame v;
  v.version = 9;
  RawFrame f;
  f.flags = 0x80;
  for (const std::string& bytes : {v.bytes(), f.bytes()}) {
    UniqueFd c = connect_raw(loopback_v4(server.port()), d);
    ASSERT_TRUE(c.valid());
    ASSERT_TRUE(send_all(c.get(), bytes, d));
    EXPECT_TRUE(closed_by_peer(c.get(), d));
  }
  EXPECT_TRUE(wait_until([&] { return server.stats().closed == 2; }));
  EXPECT_EQ(server.stats().bad_version, 1u);
  EXPECT_EQ(server.stats().bad_flags, 1u);
  server.stop(0ms);
}

TEST_F(MsgServerTest, TruncatedHeaderThenEofIsCountedAndClosed) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);
  ASSERT_TRUE(server.start());
  Deadline d(20s);
  UniqueFd c = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c.get(), frame(kEchoId, "abc").substr(0, 5), d));
  ASSERT_EQ(::shutdown(c.get(), SHUT_WR), 0);
  EXPECT_TRUE(closed_by_peer(c.get(), d));
  EXPECT_TRUE(wait_until([&] { return server.stats().truncated == 1; }));
  EXPECT_EQ(server.stats().frames_in, 0u);
  server.stop(0ms);
}

TEST_F(MsgServerTest, UnknownIdsDropOrCloseAndTwoServersShareNothing) {
  auto dropping = echo_router(UnknownIdPolicy::kDrop);
  auto closing = echo_router(UnknownIdPolicy::kClose);
  MsgServer a(local_options(), *dropping);
  MsgServer b(local_options(), *closing);
  ASSERT_TRUE(a.start());
  ASSERT_TRUE(b.start());
  Deadline d(20s);
  const std::string unknown = frame(99, "who?");
  const std::string echo = frame(kEchoId, "hello");
  UniqueFd ca = connect_raw(loopback_v4(a.port()), d);
  UniqueFd cb = connect_raw(loopback_v4(b.port()), d);
  ASSERT_TRUE(ca.valid() && cb.valid());
  ASSERT_TRUE(send_all(ca.get(), unknown + echo, d));
  EXPECT_EQ(read_some(ca.get(), echo.size(), d).data, echo);
  ASSERT_TRUE(send_all(cb.get(), unknown + echo, d));
  EXPECT_TRUE(closed_by_peer(cb.get(), d));
  EXPECT_TRUE(wait_until([&] { return b.stats().unknown_closed == 1; }));
  EXPECT_EQ(a.stats().unknown_dropped, 1u);
  EXPECT_EQ(a.stats().unknown_closed, 0u);
  EXPECT_EQ(b.stats().unknown_dropped, 0u);
  EXPECT_EQ(a.stats().closed, 0u);
  a.stop(0ms);
  b.stop(0ms);
}

TEST_F(MsgServerTest, PingIsAnsweredWithPongCarryingTheSameBody) {
  auto router = echo_router();
  MsgServer server(local_options(), *router);
  ASSERT_TRUE(server.start());
  Deadline d(20s);
  UniqueFd c = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c.get(), frame(kPingId, "t=1"), d));
  const std::string pong = frame(kPongId, "t=1");
  EXPECT_EQ(read_some(c.get(), pong.size(), d).data, pong);
  EXPECT_EQ(server.stats().pings_in, 1u);
  EXPECT_EQ(server.stats().pongs_out, 1u);
  server.stop(0ms);
}

// The client side decodes with the same Link: feed it a stream through a raw
// server socket, split at every byte boundary, each half read on its own.
TEST_F(MsgServerTest, ClientDecodesFramesSplitAtEveryByteBoundary) {
  auto listener = net::listen_tcp(loopback_v4());
  ASSERT_TRUE(listener);
  const net::InetAddress addr = net::local_address(listener->get());
  EventLoop loop;
  Router router;
  std::vector<std::string> bodies;
  std::size_t consumed = 0;
  (void)router.on(7, [&](Link&, const Frame& f) {
    bodies.emplace_back(f.body);
    consumed += kHeaderSize + f.body.size();
  });
  MsgClientOptions co;
  co.heartbeat.interval = Millis{0};
  MsgClient client(loop, addr, router, co);
  client.connect();
  UniqueFd peer;
  Deadline d(30s);
  while (!(peer.valid() && client.connected()) && !d.expired()) {
    loop.run_once(5ms);
    if (!peer.valid()) peer.reset(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  }
  ASSERT_TRUE(peer.valid() && client.connected());
  const std::string stream = frame(7, "") + frame(7, "a") + frame(7, std::string(100, 'z'), 3);
  auto delivered = [&] { return consumed + client.link()->connection().input().size(); };
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    const std::size_t before = consumed;
    const std::size_t frames_before = bodies.size();
    ASSERT_TRUE(send_all(peer.get(), std::string_view(stream).substr(0, split), d));
    while (delivered() < before + split && !d.expired()) loop.run_once(5ms);
    ASSERT_EQ(delivered(), before + split) << "split " << split;
    ASSERT_TRUE(send_all(peer.get(), std::string_view(stream).substr(split), d));
    while (bodies.size() < frames_before + 3 && !d.expired()) loop.run_once(5ms);
    ASSERT_EQ(bodies.size(), frames_before + 3) << "split " << split;
    EXPECT_EQ(bodies[frames_before], "");
    EXPECT_EQ(bodies[frames_before + 1], "a");
    EXPECT_EQ(bodies[frames_before + 2], std::string(100, 'z'));
  }
  EXPECT_EQ(client.stats().protocol_errors(), 0u);
  client.disconnect();
}

// Heartbeat end to end, interval 100 ms and 3 misses: a silent connection is
// gone in about 300 ms; a pinging client stays.
TEST_F(MsgServerTest, SilentClientIsClosedInAbout300MsAndAPingingOneStays) {
  auto router = echo_router();
  MsgServer server(local_options(Millis{100}, 3), *router);
  ASSERT_TRUE(server.start());

  LoopThread client_thread("msg-client");
  EventLoop& cl = client_thread.loop();
  Router client_router;
  std::unique_ptr<MsgClient> live;
  run_on(cl, [&] {
    MsgClientOptions co;
    co.heartbeat.interval = Millis{100};
    co.heartbeat.misses = 3;
    live = std::make_unique<MsgClient>(cl, loopback_v4(server.port()), client_router, co);
    live->connect();
  });
  ASSERT_TRUE(wait_until([&] {
    bool up = false;
    run_on(cl, [&] { up = live->connected(); });
    return up;
  }));

  Deadline d(10s);
  const TimePoint t0 = Clock::now();
  UniqueFd silent = connect_raw(loopback_v4(server.port()), d);
  ASSERT_TRUE(silent.valid());
  EXPECT_TRUE(closed_by_peer(silent.get(), d));
  const auto gone_ms = std::chrono::duration_cast<Millis>(Clock::now() - t0).count();
  EXPECT_GE(gone_ms, 250);
  EXPECT_LE(gone_ms, 700);

  std::this_thread::sleep_until(t0 + 2s);
  int made = 0;
  bool connected = false;
  StatsSnapshot cs;
  run_on(cl, [&] {
    made = live->connections_made();
    connected = live->connected();
    cs = live->stats();
  });
  EXPECT_TRUE(connected);
  EXPECT_EQ(made, 1);
  EXPECT_GE(cs.pings_out, 10u);
  EXPECT_GE(cs.pongs_in, 10u);
  EXPECT_EQ(cs.heartbeat_timeouts, 0u);
  EXPECT_EQ(server.stats().heartbeat_timeouts, 1u);  // the silent one only
  EXPECT_EQ(server.live_connections(), 1u);
  run_on(cl, [&] { live.reset(); });
  server.stop(0ms);
}

// The server hangs (its loop blocked) longer than misses intervals: the
// client closes, reconnects with backoff, and is served once the server is
// back.
TEST_F(MsgServerTest, ClientWhoseServerStopsAnsweringReconnectsWhenItComesBack) {
  auto router = echo_router();
  MsgServer server(local_options(Millis{0}), *router);  // the server never closes for silence
  ASSERT_TRUE(server.start());

  LoopThread client_thread("msg-client");
  EventLoop& cl = client_thread.loop();
  Router client_router;
  std::atomic<int> echoes{0};
  (void)client_router.on(kEchoId, [&](Link&, const Frame&) { echoes.fetch_add(1); });
  std::unique_ptr<MsgClient> client;
  run_on(cl, [&] {
    MsgClientOptions co;
    co.heartbeat.interval = Millis{50};
    co.heartbeat.misses = 3;
    co.backoff_initial = Millis{20};
    co.backoff_max = Millis{200};
    client = std::make_unique<MsgClient>(cl, loopback_v4(server.port()), client_router, co);
    client->connect();
  });
  auto made = [&] {
    int n = 0;
    run_on(cl, [&] { n = client->connections_made(); });
    return n;
  };
  ASSERT_TRUE(wait_until([&] { return made() == 1; }));

  // The server stops answering for 600 ms (> 150 ms of misses).
  server.tcp().loop(0).post([] { std::this_thread::sleep_for(600ms); });
  EXPECT_TRUE(wait_until([&] { return made() >= 2; }, 10s));
  // Back: the new connection is served.
  EXPECT_TRUE(wait_until(
      [&] {
        bool sent = false;
        run_on(cl, [&] { sent = client->connected() && client->send(kEchoId, "back"); });
        return sent && echoes.load() > 0;
      },
      10s));
  StatsSnapshot cs;
  run_on(cl, [&] { cs = client->stats(); });
  EXPECT_GE(cs.heartbeat_timeouts, 1u);
  run_on(cl, [&] { client.reset(); });
  server.stop(0ms);
}

}  // namespace
}  // namespace sluice::msg
