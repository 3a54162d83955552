// msg-echo-client: sends N framed messages to msg-echo-server, checks every
// echo (order, length, every byte) and exits 0 only when all came back.
//   msg-echo-client --connect ADDR:PORT [--messages N] [--body-bytes N]
//                   [--window N] [--heartbeat-interval-ms MS]
//                   [--heartbeat-misses N] [--timeout-ms MS]
// Each body starts with its sequence number (8 bytes, big-endian) followed
// by bytes derived from it. Messages lost to a reconnection are sent again.
#include <signal.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "echo_common.h"
#include "sluice/loop/event_loop.h"
#include "sluice/msg/msg_client.h"

namespace {

using namespace sluice;

struct Config {
  net::InetAddress server;
  bool have_server = false;
  std::uint64_t messages = 1000;
  std::size_t body_bytes = 64;
  std::uint64_t window = 32;  // messages in flight
  long timeout_ms = 30'000;
  msg::MsgClientOptions client;
};

int usage(const char* prog, int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: %s --connect ADDR:PORT [--messages N] [--body-bytes N] [--window N]\n"
               "          [--heartbeat-interval-ms MS] [--heartbeat-misses N] [--timeout-ms MS]\n"
               "Sends N messages, checks every echo; exit 0 only when all came back.\n",
               prog);
  return code;
}

std::string body_for(std::uint64_t seq, std::size_t size) {
  std::string body(size < 8 ? 8 : size, '\0');
  for (int i = 0; i < 8; ++i)
    body[static_cast<std::size_t>(i)] = static_cast<char>(seq >> (56 - 8 * i));
  for (std::size_t i = 8; i < body.size(); ++i)
    body[i] = static_cast<char>((seq * 131 + i * 7) & 0xFF);
  return body;
}

class EchoCheck {
 public:
  EchoCheck(EventLoop& loop, const Config& config) : loop_(loop), config_(config) {
    (void)router_.on(msg_echo::kEchoId, [this](msg::Link&, const msg::Frame& f) { on_echo(f); });
    client_ = std::make_unique<msg::MsgClient>(loop, config.server, router_, config.client);
    client_->set_on_connected([this](msg::Link&) {
      next_ = received_;  // resend what a closed connection lost
      fill_window();
    });
    client_->set_connect_failed([this](std::error_code ec) {
      std::fprintf(stderr, "msg-echo-client: cannot connect: %s\n", ec.message().c_str());
      finish(1);
    });
  }

  void start() { client_->connect(); }
  int exit_code() const { return exit_code_; }
  std::uint64_t received() const { return received_; }
  const msg::MsgClient& client() const { return *client_; }

  void finish(int code) {
    if (exit_code_ < 0) exit_code_ = code;
    loop_.stop();
  }

 private:
  void fill_window() {
    while (client_->connected() && next_ < config_.messages && next_ - received_ < config_.window) {
      if (!client_->send(msg_echo::kEchoId, body_for(next_, config_.body_bytes))) return;
      ++next_;
    }
  }

  void on_echo(const msg::Frame& f) {
    const std::string expect = body_for(received_, config_.body_bytes);
    if (f.body != expect) {
      std::fprintf(stderr, "msg-echo-client: echo %llu differs (%zu bytes, want %zu)\n",
                   static_cast<unsigned long long>(received_), f.body.size(), expect.size());
      finish(1);
      return;
    }
    if (++received_ == config_.messages) {
      finish(0);
      return;
    }
    fill_window();
  }

  EventLoop& loop_;
  const Config& config_;
  msg::Router router_;
  std::unique_ptr<msg::MsgClient> client_;
  std::uint64_t next_ = 0;
  std::uint64_t received_ = 0;
  int exit_code_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  Config config;
  long value = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    if (arg == "--help" || arg == "-h") return usage(argv[0], 0);
    if (arg == "--connect" && has_value) {
      auto addr = net::InetAddress::parse(argv[++i]);
      if (!addr) {
        std::fprintf(stderr, "msg-echo-client: bad --connect address '%s' (want ADDR:PORT)\n",
                     argv[i]);
        return 2;
      }
      config.server = *addr;
      config.have_server = true;
    } else if (arg == "--messages" && has_value && msg_echo::parse_number(argv[++i], value)) {
      config.messages = static_cast<std::uint64_t>(value);
    } else if (arg == "--body-bytes" && has_value && msg_echo::parse_number(argv[++i], value) &&
               static_cast<std::size_t>(value) <= msg::kDefaultMaxBody) {
      config.body_bytes = static_cast<std::size_t>(value);
    } else if (arg == "--window" && has_value && msg_echo::parse_number(argv[++i], value) &&
               value >= 1) {
      config.window = static_cast<std::uint64_t>(value);
    } else if (arg == "--heartbeat-interval-ms" && has_value &&
               msg_echo::parse_number(argv[++i], value)) {
      config.client.heartbeat.interval = Millis(value);
    } else if (arg == "--heartbeat-misses" && has_value &&
               msg_echo::parse_number(argv[++i], value) && value >= 1 && value <= 1000) {
      config.client.heartbeat.misses = static_cast<int>(value);
    } else if (arg == "--timeout-ms" && has_value && msg_echo::parse_number(argv[++i], value) &&
               value > 0) {
      config.timeout_ms = value;
    } else {
      std::fprintf(stderr, "msg-echo-client: bad argument '%s'\n", argv[i]);
      return usage(argv[0], 2);
    }
  }
  if (!config.have_server) return usage(argv[0], 2);

  ::signal(SIGPIPE, SIG_IGN);
  EventLoop loop;
  // Retry for ever: --timeout-ms bounds the whole run.
  config.client.max_attempts = 0;
  EchoCheck check(loop, config);
  Timer deadline(loop, [&] {
    std::fprintf(stderr, "msg-echo-client: timeout: %llu of %llu echoes after %ld ms\n",
                 static_cast<unsigned long long>(check.received()),
                 static_cast<unsigned long long>(config.messages), config.timeout_ms);
    check.finish(1);
  });
  deadline.start(Millis(config.timeout_ms));
  if (config.messages == 0) return 0;
  check.start();
  loop.run();
  if (check.exit_code() == 0) {
    const msg::StatsSnapshot s = check.client().stats();
    std::printf("msg-echo-client: %llu/%llu echoes verified (%llu connection(s), %llu ping(s))\n",
                static_cast<unsigned long long>(check.received()),
                static_cast<unsigned long long>(config.messages),
                static_cast<unsigned long long>(check.client().connections_made()),
                static_cast<unsigned long long>(s.pings_out));
  }
  return check.exit_code() < 0 ? 1 : check.exit_code();
}
