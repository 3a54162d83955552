// msg-bench: figures for docs/protocol.md.
//
//   msg-bench roundtrip [--connections N] [--body-bytes N] [--seconds S]
//       N clients on one loop thread, each sending a message and waiting for
//       its echo from an in-process MsgServer (one loop thread): round trips
//       per second and latency percentiles.
//   msg-bench idle [--connections N] [--interval-ms MS] [--misses N]
//                  [--simulated-seconds S]
//       The server's heartbeat bookkeeping for N idle connections that ping
//       every interval, on a TimerWheel advanced 1 ms at a time (no
//       sockets): CPU time per simulated second, and wheel relinks.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sluice/loop/loop_thread.h"
#include "sluice/msg/heartbeat.h"
#include "sluice/msg/msg_client.h"
#include "sluice/msg/msg_server.h"
#include "sluice/net/socket.h"

namespace {

using namespace sluice;

std::int64_t cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

long arg_value(int argc, char** argv, const char* name, long fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  return fallback;
}

template <class Fn>
void run_on(EventLoop& loop, Fn&& fn) {
  std::promise<void> done;
  loop.post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

struct Pinger {
  std::unique_ptr<msg::MsgClient> client;
  TimePoint sent_at{};
};

int roundtrip(int argc, char** argv) {
  const auto conns = static_cast<std::size_t>(arg_value(argc, argv, "--connections", 1000));
  const auto body_bytes = static_cast<std::size_t>(arg_value(argc, argv, "--body-bytes", 64));
  const long seconds = arg_value(argc, argv, "--seconds", 5);
  net::raise_nofile_limit(conns * 2 + 1000);
  ::signal(SIGPIPE, SIG_IGN);

  msg::Router server_router;
  (void)server_router.on(1, [](msg::Link& l, const msg::Frame& f) { (void)l.send(1, f.body); });
  msg::MsgServerOptions so;
  so.tcp.listen.push_back(net::InetAddress::from_ip("127.0.0.1", 0).value());
  so.tcp.threads = 1;
  msg::MsgServer server(so, server_router);
  if (!server.start()) {
    std::fprintf(stderr, "msg-bench: cannot start the server\n");
    return 1;
  }
  const auto addr = net::InetAddress::from_ip("127.0.0.1", server.port()).value();

  LoopThread client_thread("msg-bench");
  EventLoop& loop = client_thread.loop();
  const std::string body(body_bytes, 'b');
  std::vector<Pinger> pingers(conns);
  std::vector<std::int64_t> latencies_ns;
  latencies_ns.reserve(std::size_t{1} << 24);
  bool measuring = false;
  std::size_t connected = 0;
  std::vector<std::unique_ptr<msg::Router>> routers;
  run_on(loop, [&] {
    for (std::size_t i = 0; i < conns; ++i) {
      auto router = std::make_unique<msg::Router>();
      Pinger& p = pingers[i];
      (void)router->on(1, [&, i](msg::Link& link, const msg::Frame&) {
        Pinger& me = pingers[i];
        const TimePoint now = Clock::now();
        if (measuring && latencies_ns.size() < latencies_ns.capacity())
          latencies_ns.push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(now - me.sent_at).count());
        me.sent_at = now;
        (void)link.send(1, body);
      });
      p.client = std::make_unique<msg::MsgClient>(loop, addr, *router);
      p.client->set_on_connected([&, i](msg::Link& link) {
        ++connected;
        pingers[i].sent_at = Clock::now();
        (void)link.send(1, body);
      });
      p.client->connect();
      routers.push_back(std::move(router));
    }
  });
  for (int i = 0; i < 1000; ++i) {
    std::size_t n = 0;
    run_on(loop, [&] { n = connected; });
    if (n == conns) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // warm up
  run_on(loop, [&] { measuring = true; });
  const std::int64_t cpu0 = cpu_us();
  const TimePoint t0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  run_on(loop, [&] { measuring = false; });
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = static_cast<double>(cpu_us() - cpu0) / 1e6;
  std::vector<std::int64_t> lat;
  run_on(loop, [&] { lat = latencies_ns; });
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    if (lat.empty()) return 0.0;
    auto idx = static_cast<std::size_t>(p * static_cast<double>(lat.size() - 1));
    return static_cast<double>(lat[idx]) / 1000.0;
  };
  std::printf(
      "roundtrip: %zu connections, %zu-byte bodies, %.1f s: %.0f round trips/s; latency us "
      "p50 %.0f p90 %.0f p99 %.0f p99.9 %.0f max %.0f; process CPU %.2f s (both sides)\n",
      connected, body_bytes, elapsed, static_cast<double>(lat.size()) / elapsed, pct(0.5), pct(0.9),
      pct(0.99), pct(0.999), pct(1.0), cpu);
  run_on(loop, [&] {
    for (Pinger& p : pingers) p.client.reset();
  });
  server.stop(std::chrono::seconds(0));
  return 0;
}

struct IdleConn final : msg::SilenceWatch::Listener {
  IdleConn() : watch(*this) {}
  void on_silence() override { ++expired; }
  msg::SilenceWatch watch;
  int expired = 0;
};

int idle(int argc, char** argv) {
  const auto conns = static_cast<std::size_t>(arg_value(argc, argv, "--connections", 100'000));
  const std::int64_t interval = arg_value(argc, argv, "--interval-ms", 30'000);
  const long misses = arg_value(argc, argv, "--misses", 3);
  const std::int64_t simulated_ms = arg_value(argc, argv, "--simulated-seconds", 600) * 1000;
  TimerWheel wheel(0);
  std::vector<IdleConn> pool(conns);
  for (IdleConn& c : pool) c.watch.start(wheel, interval * misses);
  // Connection i pings at phase i * interval / conns: an even spread.
  const std::int64_t cpu0 = cpu_us();
  std::uint64_t refreshes = 0;
  std::size_t next = 0;
  std::int64_t phase_base = 0;
  for (std::int64_t t = 1; t <= simulated_ms; ++t) {
    wheel.advance(t);
    // Every connection whose phase falls in this millisecond pings.
    while (true) {
      const std::int64_t at = phase_base + static_cast<std::int64_t>(next) * interval /
                                               static_cast<std::int64_t>(conns);
      if (at > t) break;
      pool[next].watch.seen();
      ++refreshes;
      if (++next == conns) {
        next = 0;
        phase_base += interval;
      }
    }
  }
  const std::int64_t cpu = cpu_us() - cpu0;
  std::uint64_t rearms = 0;
  std::size_t expired = 0;
  for (IdleConn& c : pool) {
    rearms += c.watch.rearms();
    expired += static_cast<std::size_t>(c.expired);
  }
  const double sim_s = static_cast<double>(simulated_ms) / 1000.0;
  std::printf(
      "idle: %zu connections, ping every %lld ms, %ld misses, %.0f s simulated in 1 ms ticks: "
      "CPU %.3f s = %.1f us per simulated second (%.4f%% of a core); %llu refreshes, %llu wheel "
      "relinks (%.0f/s), %zu expired\n",
      conns, static_cast<long long>(interval), misses, sim_s, static_cast<double>(cpu) / 1e6,
      static_cast<double>(cpu) / sim_s, static_cast<double>(cpu) / sim_s / 1e6 * 100.0,
      static_cast<unsigned long long>(refreshes), static_cast<unsigned long long>(rearms),
      static_cast<double>(rearms) / sim_s, expired);
  return expired == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view mode = argc > 1 ? argv[1] : "";
  if (mode == "roundtrip") return roundtrip(argc, argv);
  if (mode == "idle") return idle(argc, argv);
  std::fprintf(stderr, "usage: msg-bench roundtrip|idle [options] (see the source's header)\n");
  return 2;
}
