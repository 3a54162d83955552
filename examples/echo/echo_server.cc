// echo-server: echoes every byte back. A small program on the Sluice library.
//   echo-server --listen ADDR:PORT [--threads N] [--idle-timeout-ms MS]
//               [--round-robin] [--max-connections N]
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "sluice/loop/event_loop.h"
#include "sluice/net/tcp_server.h"

namespace {

class Echo final : public sluice::net::ConnectionHandler {
 public:
  void on_message(sluice::net::TcpConnection& conn, sluice::mem::InputBuffer& in) override {
    if (!conn.send(in.view())) {
      conn.close(sluice::net::CloseReason::kError);  // the pool refused memory
      return;
    }
    in.consume(in.size());
  }
};

int usage(const char* prog, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s --listen ADDR:PORT [--threads N] [--idle-timeout-ms MS]\n"
               "          [--round-robin] [--max-connections N]\n"
               "Echoes every byte back. Stops on SIGINT/SIGTERM (graceful, 5 s).\n",
               prog);
  return code;
}

bool parse_number(const char* text, long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtol(text, &end, 10);
  return errno == 0 && end != text && *end == '\0' && out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::net::TcpServerOptions options;
  long value = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") return usage(argv[0], 0);
    if (arg == "--listen" && has_value) {
      auto addr = sluice::net::InetAddress::parse(argv[++i]);
      if (!addr) {
        std::fprintf(stderr, "echo-server: bad --listen address '%s' (want ADDR:PORT)\n", argv[i]);
        return 2;
      }
      options.listen.push_back(*addr);
    } else if (arg == "--threads" && has_value && parse_number(argv[++i], value) && value > 0) {
      options.threads = static_cast<int>(value);
    } else if (arg == "--idle-timeout-ms" && has_value && parse_number(argv[++i], value)) {
      options.connection.idle_timeout = sluice::Millis(value);
    } else if (arg == "--max-connections" && has_value && parse_number(argv[++i], value)) {
      options.max_connections_per_loop = static_cast<std::size_t>(value);
    } else if (arg == "--round-robin") {
      options.spread = sluice::net::TcpServerOptions::Spread::kRoundRobin;
    } else {
      std::fprintf(stderr, "echo-server: bad argument '%s'\n", argv[i]);
      return usage(argv[0], 2);
    }
  }
  if (options.listen.empty()) return usage(argv[0], 2);
  sluice::net::raise_nofile_limit(1'100'000);

  // Block the stop signals before any thread starts, so only the signalfd
  // on the main loop sees them.
  ::signal(SIGPIPE, SIG_IGN);
  sluice::EventLoop main_loop;
  sluice::SignalWatcher signals(main_loop, {SIGINT, SIGTERM}, [&](int) { main_loop.stop(); });

  Echo echo;
  sluice::net::TcpServer server(options, echo);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "echo-server: cannot listen on %s: %s\n",
                 options.listen.front().to_string().c_str(), st.error().message().c_str());
    return 1;
  }
  std::printf("echo-server listening on port %u with %d thread(s)\n", server.port(),
              options.threads);
  std::fflush(stdout);
  main_loop.run();
  server.stop(std::chrono::seconds(5));
  return 0;
}
