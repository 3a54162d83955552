// Heartbeat bookkeeping driven by a TimerWheel advanced by hand: no sockets,
// no sleeping, exact times.
#include "sluice/msg/heartbeat.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace sluice::msg {
namespace {

constexpr std::int64_t kInterval = 30'000;
constexpr int kMisses = 3;
constexpr std::int64_t kTimeout = kInterval * kMisses;

// One connection's bookkeeping as a server keeps it.
struct ServerSide final : SilenceWatch::Listener {
  ServerSide() : watch(*this) {}
  void on_silence() override { ++closed; }
  SilenceWatch watch;
  int closed = 0;
};

// A client's: pings when quiet, closes when nothing came back.
struct ClientSide final : SilenceWatch::Listener, PingSchedule::Listener {
  explicit ClientSide(TimerWheel& w) : wheel(w), watch(*this), pings(*this) {}
  void start() {
    watch.start(wheel, kTimeout);
    pings.start(wheel, kInterval);
  }
  void on_silence() override {
    ++closed;
    watch.stop();
    pings.stop();
  }
  void on_ping_due() override {
    ping_times.push_back(wheel.now_ms());
    pings.sent();
  }
  void pong() {
    watch.seen();
    pings.received();
  }
  TimerWheel& wheel;
  SilenceWatch watch;
  PingSchedule pings;
  int closed = 0;
  std::vector<std::int64_t> ping_times;
};

TEST(SilenceWatch, SilentConnectionClosesAfterMissesIntervalsWithinOneTick) {
  TimerWheel wheel(0);
  ServerSide conn;
  conn.watch.start(wheel, kTimeout);
  wheel.advance(kTimeout - 1);
  EXPECT_EQ(conn.closed, 0);
  wheel.advance(kTimeout);  // the first tick at the deadline
  EXPECT_EQ(conn.closed, 1);
  EXPECT_FALSE(conn.watch.active());
}

TEST(SilenceWatch, PingingConnectionNeverCloses) {
  TimerWheel wheel(0);
  ServerSide conn;
  conn.watch.start(wheel, kTimeout);
  // A ping every interval for a simulated day, the clock moving in 1 s steps.
  for (std::int64_t t = 1000; t <= 24 * 3600 * 1000; t += 1000) {
    wheel.advance(t);
    if (t % kInterval == 0) conn.watch.seen();
  }
  EXPECT_EQ(conn.closed, 0);
  EXPECT_TRUE(conn.watch.active());
  // When the entry fires, the last ping is one interval old: it moves on by
  // (misses - 1) intervals. One relink per 60 s, however many pings.
  EXPECT_LE(conn.watch.rearms(),
            static_cast<std::uint64_t>(24 * 3600 * 1000 / (kTimeout - kInterval) + 1));
}

TEST(SilenceWatch, ExpiresExactlyAtLastFramePlusTimeout) {
  TimerWheel wheel(0);
  ServerSide conn;
  conn.watch.start(wheel, kTimeout);
  wheel.advance(12'345);
  conn.watch.seen();  // the last frame
  wheel.advance(12'345 + kTimeout - 1);
  EXPECT_EQ(conn.closed, 0);
  EXPECT_EQ(conn.watch.rearms(), 1u);  // fired at 90 s, moved to 102.345 s
  wheel.advance(12'345 + kTimeout);
  EXPECT_EQ(conn.closed, 1);
}

TEST(SilenceWatch, ABigJumpOfTheClockExpiresOnce) {
  TimerWheel wheel(0);
  ServerSide conn;
  conn.watch.start(wheel, kTimeout);
  wheel.advance(10 * kTimeout);
  EXPECT_EQ(conn.closed, 1);
}

TEST(PingSchedule, IdleClientPingsEveryIntervalAndStaysOpenWhilePongsCome) {
  TimerWheel wheel(0);
  ClientSide c(wheel);
  c.start();
  for (std::int64_t t = 1; t <= 10 * kInterval; ++t) {
    wheel.advance(t);
    // The server answers each ping 5 ms later.
    if (!c.ping_times.empty() && c.ping_times.back() + 5 == t) c.pong();
  }
  ASSERT_EQ(c.ping_times.size(), 10u);
  for (std::size_t i = 0; i < c.ping_times.size(); ++i)
    EXPECT_EQ(c.ping_times[i], static_cast<std::int64_t>(i + 1) * kInterval);
  EXPECT_EQ(c.closed, 0);
}

TEST(PingSchedule, NoPingWhileTheClientSendsAndHearsBack) {
  TimerWheel wheel(0);
  ClientSide c(wheel);
  c.start();
  for (std::int64_t t = 1000; t <= 10 * kInterval; t += 1000) {
    wheel.advance(t);
    c.pings.sent();  // application traffic every second...
    c.pong();        // ...and replies
  }
  EXPECT_TRUE(c.ping_times.empty());
  EXPECT_EQ(c.closed, 0);
}

TEST(PingSchedule, OneWaySenderStillPingsSoItLearnsThePeerIsAlive) {
  TimerWheel wheel(0);
  ClientSide c(wheel);
  c.start();
  for (std::int64_t t = 1000; t <= 4 * kInterval; t += 1000) {
    wheel.advance(t);
    c.pings.sent();  // sends every second, the server never replies...
    if (!c.ping_times.empty() && c.ping_times.back() == t) c.pong();  // ...except pongs
  }
  EXPECT_EQ(c.ping_times.size(), 4u);
  EXPECT_EQ(c.closed, 0);
}

TEST(PingSchedule, ClientWhoseServerStopsAnsweringClosesAfterMissesIntervals) {
  TimerWheel wheel(0);
  ClientSide c(wheel);
  c.start();
  std::int64_t last_pong = 0;
  bool server_answers = true;
  for (std::int64_t t = 1; t <= 20 * kInterval && c.closed == 0; ++t) {
    wheel.advance(t);
    if (t == 2 * kInterval + 100) server_answers = false;  // the server hangs
    if (server_answers && !c.ping_times.empty() && c.ping_times.back() + 5 == t) {
      c.pong();
      last_pong = t;
    }
  }
  EXPECT_EQ(c.closed, 1);
  EXPECT_EQ(last_pong, 2 * kInterval + 5);
  // Closed at the tick when misses intervals passed without anything.
  EXPECT_EQ(wheel.now_ms(), last_pong + kTimeout);
  // It went on pinging every interval while waiting.
  EXPECT_EQ(c.ping_times.size(), 5u);
  // A new connection (the reconnect) starts fresh bookkeeping.
  c.closed = 0;
  c.start();
  wheel.advance(wheel.now_ms() + kInterval);
  c.pong();
  wheel.advance(wheel.now_ms() + kTimeout - 1);
  EXPECT_EQ(c.closed, 0);
}

// 100,000 connections in the idle wheel. Refreshing is a store (no wheel
// operation); each connection costs at most one relink per timeout period,
// and expiry touches exactly the connections that are due.
TEST(IdleWheel, HundredThousandConnectionsRefreshAndExpiryStayO1) {
  constexpr std::size_t kConns = 100'000;
  constexpr std::size_t kSilent = 1'000;  // every 100th connection stops pinging
  TimerWheel wheel(0);
  std::vector<std::unique_ptr<ServerSide>> conns;
  conns.reserve(kConns);
  for (std::size_t i = 0; i < kConns; ++i) {
    conns.push_back(std::make_unique<ServerSide>());
    conns.back()->watch.start(wheel, kTimeout);
  }
  ASSERT_EQ(wheel.size(), kConns);
  auto silent = [](std::size_t i) { return i % (kConns / kSilent) == 0; };
  auto total_rearms = [&] {
    std::uint64_t n = 0;
    for (auto& c : conns) n += c->watch.rearms();
    return n;
  };
  auto total_closed = [&] {
    std::size_t n = 0;
    for (auto& c : conns) n += static_cast<std::size_t>(c->closed);
    return n;
  };

  // Ten frames per live connection per interval: a million refreshes. None
  // touches the wheel: nothing fires, nothing moves.
  std::size_t fired = 0;
  for (std::int64_t t = kInterval; t < kTimeout; t += kInterval) {
    fired += wheel.advance(t);
    for (int k = 0; k < 10; ++k) {
      for (std::size_t i = 0; i < kConns; ++i)
        if (!silent(i)) conns[i]->watch.seen();
    }
  }
  EXPECT_EQ(fired, 0u);
  EXPECT_EQ(total_rearms(), 0u);
  EXPECT_EQ(wheel.size(), kConns);

  // One tick before the deadline: nothing. At it: every entry fires once;
  // the silent ones close, the live ones make one relink each.
  EXPECT_EQ(wheel.advance(kTimeout - 1), 0u);
  EXPECT_EQ(wheel.advance(kTimeout), kConns);
  EXPECT_EQ(total_closed(), kSilent);
  EXPECT_EQ(total_rearms(), kConns - kSilent);
  EXPECT_EQ(wheel.size(), kConns - kSilent);
  for (std::size_t i = 0; i < kConns; ++i) ASSERT_EQ(conns[i]->closed, silent(i) ? 1 : 0) << i;

  // Five more periods of pings (450 s): at most one relink per live
  // connection per 60 s (timeout minus the ping interval), and nobody else
  // closes.
  for (int period = 0; period < 5; ++period) {
    for (int step = 0; step < kMisses; ++step) {
      wheel.advance(wheel.now_ms() + kInterval);
      for (std::size_t i = 0; i < kConns; ++i)
        if (!silent(i)) conns[i]->watch.seen();
    }
  }
  EXPECT_EQ(total_closed(), kSilent);
  const std::uint64_t per_conn = 1 + 5 * kTimeout / (kTimeout - kInterval) + 1;
  EXPECT_LE(total_rearms(), per_conn * (kConns - kSilent));
  EXPECT_EQ(wheel.size(), kConns - kSilent);

  // Everyone goes silent: all expire at one tick, one callback each.
  const std::int64_t last = wheel.now_ms();
  wheel.advance(last + kTimeout - 1);
  EXPECT_EQ(total_closed(), kSilent);
  wheel.advance(last + kTimeout);
  EXPECT_EQ(total_closed(), kConns);
  EXPECT_EQ(wheel.size(), 0u);
}

}  // namespace
}  // namespace sluice::msg
