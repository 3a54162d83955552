// msg-echo-server: answers every framed message (id 1) with the same body.
// A small program on Sluice's msg/ layer; with --workers it runs under the
// master–worker model (proc::Master), else in one process.
//   msg-echo-server --listen ADDR:PORT [--workers N] [--threads N]
//                   [--heartbeat-interval-ms MS] [--heartbeat-misses N]
//                   [--max-body-bytes N]
#include <signal.h>

#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "echo_common.h"
#include "sluice/base/log.h"
#include "sluice/loop/event_loop.h"
#include "sluice/msg/msg_server.h"
#include "sluice/proc/master.h"
#include "sluice/proc/worker_control.h"

namespace {

using namespace sluice;

struct Config {
  msg::MsgServerOptions server;
  int workers = 0;  // 0: one process, no master
};

int usage(const char* prog, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s --listen ADDR:PORT [--workers N] [--threads N]\n"
               "          [--heartbeat-interval-ms MS] [--heartbeat-misses N]\n"
               "          [--max-body-bytes N]\n"
               "Echoes framed messages with id 1. Stops on SIGINT/SIGTERM; with --workers,\n"
               "the master also takes QUIT (graceful) and HUP (reload).\n",
               prog);
  return code;
}

msg::Router make_router() {
  msg::Router router;
  (void)router.on(msg_echo::kEchoId, [](msg::Link& link, const msg::Frame& f) {
    if (!link.send(msg_echo::kEchoId, f.body, f.flags)) link.close(net::CloseReason::kError);
  });
  return router;
}

void print_banner(const char* who, std::uint16_t port, int threads) {
  std::printf("msg-echo-server%s listening on port %u with %d thread(s)\n", who, port, threads);
  std::fflush(stdout);
}

// One process: the server's loops plus a main loop for the stop signals.
int run_single(const Config& config) {
  ::signal(SIGPIPE, SIG_IGN);
  EventLoop main_loop;
  SignalWatcher signals(main_loop, {SIGINT, SIGTERM}, [&](int) { main_loop.stop(); });
  msg::Router router = make_router();
  msg::MsgServer server(config.server, router);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "msg-echo-server: cannot start on %s: %s\n",
                 config.server.tcp.listen.front().to_string().c_str(),
                 st.error().message().c_str());
    return 1;
  }
  print_banner("", server.port(), config.server.tcp.threads);
  main_loop.run();
  server.stop(std::chrono::seconds(5));
  return 0;
}

// Under the master: the configuration comes from the command line, so
// staging has nothing to re-read.
class EchoProgram final : public proc::Program {
 public:
  explicit EchoProgram(const Config& config) : config_(config) {
    plan_.listen = config.server.tcp.listen;
    plan_.workers = config.workers;
    // With port 0 one shared listener keeps every worker on the same port.
    plan_.reuse_port = config.server.tcp.listen.front().port() != 0;
    plan_.shutdown_timeout = std::chrono::seconds(5);
  }
  std::optional<std::string> stage() override { return std::nullopt; }
  const proc::Plan& staged_plan() const override { return plan_; }
  void commit() override {}
  const proc::Plan& plan() const override { return plan_; }

  int run_worker(proc::WorkerEnv& env) override {
    EventLoop loop;
    msg::Router router = make_router();
    msg::MsgServerOptions options = config_.server;
    options.tcp.listen.clear();
    options.tcp.inherited_fds = env.listen_fds;
    msg::MsgServer server(options, router);
    bool graceful = false;
    proc::WorkerControl control(loop, env.master_pid,
                                {.graceful_stop =
                                     [&] {
                                       graceful = true;
                                       loop.stop();
                                     },
                                 .fast_stop = [&] { loop.stop(); },
                                 .reopen_logs = [] {}});
    if (auto st = server.start(); !st) {
      SLUICE_LOG(kError, "msg-echo-server worker: cannot start: %s", st.error().message().c_str());
      return proc::kExitFailure;
    }
    const std::string who = " worker " + std::to_string(env.slot);
    print_banner(who.c_str(), server.port(), options.tcp.threads);
    loop.run();
    server.stop(graceful ? plan_.shutdown_timeout : Duration::zero());
    return proc::kExitOk;
  }

 private:
  Config config_;
  proc::Plan plan_;
};

}  // namespace

int main(int argc, char** argv) {
  Config config;
  long value = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") return usage(argv[0], 0);
    if (arg == "--listen" && has_value) {
      auto addr = net::InetAddress::parse(argv[++i]);
      if (!addr) {
        std::fprintf(stderr, "msg-echo-server: bad --listen address '%s' (want ADDR:PORT)\n",
                     argv[i]);
        return 2;
      }
      config.server.tcp.listen.push_back(*addr);
    } else if (arg == "--workers" && has_value && msg_echo::parse_number(argv[++i], value) &&
               value >= 1 && value <= 64) {
      config.workers = static_cast<int>(value);
    } else if (arg == "--threads" && has_value && msg_echo::parse_number(argv[++i], value) &&
               value >= 1 && value <= 64) {
      config.server.tcp.threads = static_cast<int>(value);
    } else if (arg == "--heartbeat-interval-ms" && has_value &&
               msg_echo::parse_number(argv[++i], value)) {
      config.server.heartbeat.interval = Millis(value);
    } else if (arg == "--heartbeat-misses" && has_value &&
               msg_echo::parse_number(argv[++i], value) && value >= 1 && value <= 1000) {
      config.server.heartbeat.misses = static_cast<int>(value);
    } else if (arg == "--max-body-bytes" && has_value && msg_echo::parse_number(argv[++i], value) &&
               static_cast<std::size_t>(value) <= msg::kMaxBodyLimit) {
      config.server.max_body_bytes = static_cast<std::size_t>(value);
    } else {
      std::fprintf(stderr, "msg-echo-server: bad argument '%s'\n", argv[i]);
      return usage(argv[0], 2);
    }
  }
  if (config.server.tcp.listen.empty()) return usage(argv[0], 2);
  if (config.workers == 0) return run_single(config);
  EchoProgram program(config);
  proc::Master master(program);
  return master.run();
}
