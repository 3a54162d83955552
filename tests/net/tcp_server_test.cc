// TcpServer: many connections, accept bursts, descriptor exhaustion, spread
// over loops, limits, graceful stop.
#include "sluice/net/tcp_server.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "net/test_support.h"

namespace sluice::net {
namespace {

using namespace test;
using namespace std::chrono_literals;

#ifndef SWARM_CLIENT_PATH
#define SWARM_CLIENT_PATH ""
#endif

TEST(TcpServer, TenThousandConcurrentEchoConnectionsGetEveryByteBack) {
  // The clients run in a helper process (net-swarm-client): client and
  // server descriptors together may exceed the hard RLIMIT_NOFILE.
  ignore_sigpipe_for_test();
  constexpr std::size_t kConnections = 10'000;
  ASSERT_GE(raise_nofile_limit(kConnections + 1000), kConnections + 200);
  RecordingEcho echo;
  TcpServer server(local_server_options(2), echo);
  ASSERT_TRUE(server.start().ok());

  Child clients(
      {SWARM_CLIENT_PATH, std::to_string(server.port()), std::to_string(kConnections), "512"});
  ASSERT_TRUE(clients.running());
  // Each client sends 1-4 KiB of its own pattern and checks every byte.
  EXPECT_EQ(clients.read_line(Deadline(90s)), "verified " + std::to_string(kConnections));

  // All of them are open at once on the server, spread over both loops.
  EXPECT_EQ(server.live_connections(), kConnections);
  std::vector<LoopStats> stats = server.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].accepted + stats[1].accepted, kConnections);
  EXPECT_GT(stats[0].accepted, 0u);
  EXPECT_GT(stats[1].accepted, 0u);
  EXPECT_EQ(stats[0].rejected_limit + stats[1].rejected_limit, 0u);

  ASSERT_TRUE(clients.write_line("close"));
  EXPECT_EQ(clients.read_line(Deadline(30s)), "closed");
  int status = -1;
  EXPECT_TRUE(clients.wait_exit(status, Deadline(30s)));
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(wait_until([&] { return server.live_connections() == 0; }, 30s))
      << server.live_connections() << " still live";
  EXPECT_TRUE(wait_until([&] { return echo.closed.load() == kConnections; }, 5s));
  EXPECT_EQ(echo.opened.load(), kConnections);
  EXPECT_TRUE(echo.each_closed_once());
  std::size_t peer_closed = 0;
  for (CloseReason r : echo.close_reasons()) peer_closed += r == CloseReason::kPeerClosed;
  EXPECT_EQ(peer_closed, kConnections);
  server.stop(0s);
}

TEST(TcpServer, BurstOfTwoThousandConnectsAgainstSmallBacklogIsFullyServed) {
  // 2,000 connects issued at once against a backlog of 16 and an
  // edge-triggered acceptor. The acceptor must drain the queue on every
  // event: one that stops early strands connections with no new edge.
  // The kernel drops handshakes while the queue is full (17 entries) and the
  // clients' own retransmissions come back in batches (timers of one jiffy,
  // exponential backoff), so clients, like real ones, give up on a connection
  // not served within 3 s and connect again.
  ignore_sigpipe_for_test();
  ASSERT_GE(raise_nofile_limit(8192), 4200u);
  RecordingEcho echo;
  TcpServerOptions so = local_server_options(1);
  so.backlog = 16;
  so.edge_triggered_accept = true;
  TcpServer server(so, echo);
  ASSERT_TRUE(server.start().ok());

  constexpr std::size_t kConnections = 2'000;
  EchoSwarm::Options o;
  o.count = kConnections;
  o.max_connecting = kConnections;  // all at once
  o.length_of = [](std::size_t i) { return 16 + i % 64; };
  o.retry_after = 3s;
  EchoSwarm swarm(loopback_v4(server.port()), o);
  auto started = Clock::now();
  ASSERT_TRUE(swarm.run(Deadline(40s))) << swarm.error() << "; accepted " << total_accepted(server);
  auto took = std::chrono::duration_cast<Millis>(Clock::now() - started);
  std::printf("burst of %zu connects served in %lld ms, %zu reconnects\n", kConnections,
              static_cast<long long>(took.count()), swarm.retries());
  EXPECT_GE(total_accepted(server), kConnections);
  // Nothing is left in the accept queue once the burst is over.
  EXPECT_TRUE(wait_until([&] { return listen_queue_length(server.port()) == 0; }, 2s))
      << listen_queue_length(server.port()) << " stranded in the accept queue";
  swarm.close_all();
  EXPECT_TRUE(wait_until([&] { return server.live_connections() == 0; }, 20s));
}

// Counts the descriptors open below `limit`.
int open_fds_below(int limit) {
  int n = 0;
  for (int fd = 0; fd < limit; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  }
  return n;
}

TEST(TcpServer, SurvivesEmfileByRejectingWithoutSpinningThenServesAgain) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServer server(local_server_options(1), echo);
  ASSERT_TRUE(server.start().ok());
  const InetAddress addr = loopback_v4(server.port());

  // Client sockets exist before the limit drops, so only the server's
  // accept runs out of descriptors.
  constexpr int kClients = 40;
  std::vector<UniqueFd> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(clients.back().valid());
  }
  UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));  // for the recovery step
  ASSERT_TRUE(probe.valid());

  rlimit original{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
  // Fill the gaps below the highest descriptor, so exactly kFree remain.
  const int highest = highest_open_fd();
  std::vector<UniqueFd> gap_fillers;
  for (int gaps = highest + 1 - open_fds_below(highest + 1); gaps > 0; --gaps) {
    gap_fillers.emplace_back(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
  constexpr int kFree = 4;  // descriptors left for the server
  const int lowered = highest + 1 + kFree;
  const int free_slots = lowered - open_fds_below(lowered);
  ASSERT_EQ(free_slots, kFree);
  rlimit low = original;
  low.rlim_cur = static_cast<rlim_t>(lowered);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);

  for (UniqueFd& c : clients) {
    int rc = ::connect(c.get(), addr.sockaddr_ptr(), addr.length());
    ASSERT_TRUE(rc == 0 || errno == EINPROGRESS) << std::strerror(errno);
  }
  auto handled = [&] {
    std::vector<LoopStats> s = server.stats();
    return s[0].accepted + s[0].rejected_no_fd;
  };
  bool all_handled = wait_until([&] { return handled() >= kClients; }, 10s);
  std::vector<LoopStats> s = server.stats();
  EXPECT_TRUE(all_handled) << "accepted " << s[0].accepted << " rejected " << s[0].rejected_no_fd;
  EXPECT_EQ(s[0].accepted, static_cast<std::uint64_t>(free_slots));
  EXPECT_EQ(s[0].rejected_no_fd, static_cast<std::uint64_t>(kClients - free_slots));
  EXPECT_GE(s[0].rejected_no_fd, static_cast<std::uint64_t>(kClients - kFree - 8));

  // No spinning: while descriptors stay exhausted the process is idle.
  std::int64_t cpu0 = process_cpu_us();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(300ms);
  std::int64_t cpu_us = process_cpu_us() - cpu0;
  auto wall_us = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0).count();
  EXPECT_LT(cpu_us, wall_us / 4) << "CPU " << cpu_us << " us over " << wall_us << " us";

  // The rejected clients were closed by the server: they read EOF or a reset.
  int closed_by_server = 0;
  for (UniqueFd& c : clients) {
    char b;
    ssize_t n = ::recv(c.get(), &b, 1, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN)) ++closed_by_server;
  }
  EXPECT_EQ(closed_by_server, kClients - free_slots);

  // Descriptors come back: a new client is served.
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &original), 0);
  ASSERT_EQ(::connect(probe.get(), addr.sockaddr_ptr(), addr.length()), 0);
  ASSERT_EQ(::fcntl(probe.get(), F_SETFL, O_NONBLOCK), 0);
  EXPECT_TRUE(echo_round_trip(probe.get(), "after EMFILE", Deadline(10s)));
  EXPECT_EQ(server.stats()[0].accepted, static_cast<std::uint64_t>(free_slots) + 1);
  clients.clear();
  probe.reset();
  EXPECT_TRUE(wait_until([&] { return server.live_connections() == 0; }, 10s));
}

void expect_every_loop_accepts(TcpServerOptions::Spread spread) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServerOptions so = local_server_options(4);
  so.spread = spread;
  TcpServer server(so, echo);
  ASSERT_TRUE(server.start().ok());
  constexpr std::size_t kConnections = 128;
  EchoSwarm::Options o;
  o.count = kConnections;
  o.max_connecting = 16;
  EchoSwarm swarm(loopback_v4(server.port()), o);
  ASSERT_TRUE(swarm.run(Deadline(30s))) << swarm.error();
  std::vector<LoopStats> stats = server.stats();
  ASSERT_EQ(stats.size(), 4u);
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < stats.size(); ++i) {
    EXPECT_GE(stats[i].accepted, 1u) << "loop " << i;
    EXPECT_EQ(stats[i].live, stats[i].accepted) << "loop " << i;
    if (spread == TcpServerOptions::Spread::kRoundRobin) {
      EXPECT_EQ(stats[i].accepted, kConnections / 4) << "loop " << i;
    }
    sum += stats[i].accepted;
  }
  EXPECT_EQ(sum, kConnections);
  swarm.close_all();
  EXPECT_TRUE(wait_until([&] { return server.live_connections() == 0; }, 10s));
}

TEST(TcpServer, ReusePortSpreadsConnectionsOverEveryLoop) {
  expect_every_loop_accepts(TcpServerOptions::Spread::kReusePort);
}

TEST(TcpServer, RoundRobinSpreadsConnectionsOverEveryLoop) {
  expect_every_loop_accepts(TcpServerOptions::Spread::kRoundRobin);
}

TEST(TcpServer, ConnectionLimitPerLoopClosesExtraConnectionsAtOnce) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServerOptions so = local_server_options(1);
  so.max_connections_per_loop = 3;
  TcpServer server(so, echo);
  ASSERT_TRUE(server.start().ok());
  const InetAddress addr = loopback_v4(server.port());
  Deadline d(20s);
  std::vector<UniqueFd> kept;
  for (int i = 0; i < 3; ++i) {
    kept.push_back(connect_raw(addr, d));
    ASSERT_TRUE(kept.back().valid());
    ASSERT_TRUE(echo_round_trip(kept.back().get(), "kept " + std::to_string(i), d));
  }
  for (int i = 0; i < 2; ++i) {
    UniqueFd extra = connect_raw(addr, d);
    ASSERT_TRUE(extra.valid());
    auto t0 = Clock::now();
    ReadOutcome r = read_until_eof(extra.get(), Deadline(5s));
    EXPECT_TRUE(r.eof || r.error == ECONNRESET) << "extra connection was not closed";
    EXPECT_TRUE(r.data.empty());
    EXPECT_LT(Clock::now() - t0, 2s);
  }
  std::vector<LoopStats> s = server.stats();
  EXPECT_EQ(s[0].rejected_limit, 2u);
  EXPECT_EQ(s[0].accepted, 3u);
  EXPECT_EQ(s[0].live, 3u);
  EXPECT_EQ(echo.opened.load(), 3u);  // the handler never saw the extra ones
  for (UniqueFd& k : kept) EXPECT_TRUE(echo_round_trip(k.get(), "still served", d));
  kept.clear();
  EXPECT_TRUE(wait_until([&] { return server.live_connections() == 0; }, 10s));
}

TEST(TcpServer, EchoesOverIpv6Loopback) {
  ignore_sigpipe_for_test();
  RecordingEcho echo;
  TcpServerOptions so;
  so.listen.push_back(InetAddress::parse("[::1]:0").value());
  TcpServer server(so, echo);
  auto st = server.start();
  if (!st.ok() && st.error() == std::errc::address_not_available)
    GTEST_SKIP() << "no IPv6 loopback";
  ASSERT_TRUE(st.ok()) << st.error().message();
  Deadline d(10s);
  UniqueFd c = connect_raw(InetAddress::from_ip("::1", server.port()).value(), d);
  ASSERT_TRUE(c.valid());
  EXPECT_TRUE(echo_round_trip(c.get(), pattern(7, 0, 3000), d));
}

// Answers "SEND\n" with kReplyBytes of pattern 42.
class BigReply final : public ConnectionHandler {
 public:
  static constexpr std::size_t kReplyBytes = std::size_t{6} << 20;
  void on_message(TcpConnection& c, mem::InputBuffer& in) override {
    if (in.view().find('\n') == std::string_view::npos) return;
    in.consume(in.size());
    EXPECT_TRUE(c.send(reply_).ok());
    pending_after_send.store(c.pending_output());
    requested.store(true);
  }
  void on_close(TcpConnection&, CloseReason r) override {
    reason.store(r);
    closed.store(true);
  }
  std::atomic<bool> requested{false};
  std::atomic<bool> closed{false};
  std::atomic<std::size_t> pending_after_send{0};
  std::atomic<CloseReason> reason{CloseReason::kError};

 private:
  std::string reply_ = pattern(42, 0, kReplyBytes);
};

TEST(TcpServer, GracefulStopDeliversInFlightDataThenEof) {
  ignore_sigpipe_for_test();
  BigReply handler;
  TcpServer server(local_server_options(2), handler);
  ASSERT_TRUE(server.start().ok());
  Deadline d(30s);
  UniqueFd c = connect_raw(loopback_v4(server.port()), d, nullptr, 64 * 1024);
  ASSERT_TRUE(c.valid());
  ASSERT_TRUE(send_all(c.get(), "SEND\n", d));
  ASSERT_TRUE(wait_until([&] { return handler.requested.load(); }, 10s));
  // Several MiB are still queued in the server when it is told to stop.
  EXPECT_GT(handler.pending_after_send.load(), std::size_t{1} << 20);

  ReadOutcome got;
  std::thread reader([&] {
    std::this_thread::sleep_for(50ms);  // stop() starts while the data is in flight
    got = read_until_eof(c.get(), Deadline(25s));
    c.reset();  // our EOF ends the server's linger at once
  });
  server.stop(20s);
  reader.join();
  EXPECT_TRUE(got.eof) << "error " << got.error << " timed out " << got.timed_out;
  ASSERT_EQ(got.data.size(), BigReply::kReplyBytes);
  EXPECT_EQ(fnv1a(kFnvOffset, got.data), fnv1a(kFnvOffset, pattern(42, 0, BigReply::kReplyBytes)));
  EXPECT_TRUE(handler.closed.load());
  EXPECT_EQ(handler.reason.load(), CloseReason::kLocalClose);
}

}  // namespace
}  // namespace sluice::net
