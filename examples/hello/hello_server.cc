// hello-server: TechEmpower's /plaintext and /json on Sluice's HTTP layer.
//   hello-server --listen ADDR:PORT [--threads N] [--keepalive-requests N]
// Each response is composed per request, with Server and Date headers, as
// the TechEmpower rules ask.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sluice/http/server.h"
#include "sluice/loop/event_loop.h"

int main(int argc, char** argv) {
  sluice::http::ServerOptions options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--listen" && i + 1 < argc) {
      auto addr = sluice::net::InetAddress::parse(argv[++i]);
      if (!addr) {
        std::fprintf(stderr, "hello-server: bad --listen address '%s'\n", argv[i]);
        return 2;
      }
      options.tcp.listen.push_back(*addr);
    } else if (arg == "--keepalive-requests" && i + 1 < argc) {
      long n = std::atol(argv[++i]);
      if (n < 1) {
        std::fprintf(stderr, "hello-server: --keepalive-requests wants a number >= 1\n");
        return 2;
      }
      options.max_requests_per_connection = static_cast<std::uint32_t>(n);
    } else if (arg == "--threads" && i + 1 < argc) {
      options.tcp.threads = std::atoi(argv[++i]);
      if (options.tcp.threads < 1) {
        std::fprintf(stderr, "hello-server: --threads wants a number >= 1\n");
        return 2;
      }
    } else {
      std::fprintf(stderr, "usage: %s --listen ADDR:PORT [--threads N] [--keepalive-requests N]\n",
                   argv[0]);
      return arg == "--help" ? 0 : 2;
    }
  }
  if (options.tcp.listen.empty()) {
    std::fprintf(stderr, "usage: %s --listen ADDR:PORT [--threads N]\n", argv[0]);
    return 2;
  }
  sluice::http::Router router;
  router.get("/plaintext", [](sluice::http::ServerRequest&, sluice::http::Response& res) {
    res.header("Content-Type", "text/plain").send("Hello, World!");
  });
  router.get("/json", [](sluice::http::ServerRequest&, sluice::http::Response& res) {
    // Serialised per request, as the rules ask (no cached body).
    char body[64];
    int n = std::snprintf(body, sizeof body, "{\"message\":\"%s\"}", "Hello, World!");
    res.header("Content-Type", "application/json")
        .send(std::string_view(body, static_cast<std::size_t>(n)));
  });

  ::signal(SIGPIPE, SIG_IGN);
  sluice::net::raise_nofile_limit(1'100'000);
  sluice::EventLoop main_loop;
  sluice::SignalWatcher signals(main_loop, {SIGINT, SIGTERM}, [&](int) { main_loop.stop(); });
  sluice::http::HttpServer server(options, router);
  if (auto st = server.start(); !st) {
    std::fprintf(stderr, "hello-server: cannot listen: %s\n", st.error().message().c_str());
    return 1;
  }
  std::printf("hello-server listening on port %u\n", server.port());
  std::fflush(stdout);
  main_loop.run();
  server.stop(std::chrono::seconds(5));
  return 0;
}
