// line-server: a small program on proc/ + net/ used by the process-model
// tests. Each request is a line; the reply is "<reply> <pid> <generation>\n".
// During a graceful stop, the next request on a connection is answered with
// " close" appended and the connection closes (as HTTP's Connection: close);
// connections idle past the grace period close without a reply.
//
//   line-server --config FILE [--pid-file FILE] [-t] [-s stop|quit|reload|reopen]
//
// The configuration is "key = value" lines; '#' starts a comment:
//   listen = 127.0.0.1:PORT   (repeatable)
//   workers = N
//   reuse_port = true|false
//   reply = TEXT
//   delay_ms = N              (each reply waits this long: in-flight work)
//   shutdown_timeout_ms = N
//   idle_grace_ms = N         (graceful stop: idle connections close after it)
//   fatal = true|false        (workers exit with the fatal-config code)
//   log = PATH                (one line per request; reopened on USR1)
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "sluice/base/log.h"
#include "sluice/net/tcp_server.h"
#include "sluice/proc/master.h"
#include "sluice/proc/pid_file.h"
#include "sluice/proc/worker_control.h"

namespace {

using namespace sluice;

struct Config {
  proc::Plan plan;
  std::string reply = "hello";
  long delay_ms = 0;
  long idle_grace_ms = 1000;
  bool fatal = false;
  std::string log_path;
};

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t");
  auto e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

std::optional<std::string> parse_config(const std::string& path, Config& out) {
  std::ifstream in(path);
  if (!in) return path + ": cannot open";
  Config c;
  c.plan.listen.clear();
  std::string line;
  int lineno = 0;
  auto fail = [&](const std::string& key, const std::string& why) {
    return path + ":" + std::to_string(lineno) + ": " + key + ": " + why;
  };
  auto number = [](const std::string& v, long& n) {
    char* end = nullptr;
    n = std::strtol(v.c_str(), &end, 10);
    return !v.empty() && *end == '\0' && n >= 0;
  };
  while (std::getline(in, line)) {
    ++lineno;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    auto eq = line.find('=');
    if (eq == std::string::npos) return fail(line, "expected key = value");
    std::string key = trim(line.substr(0, eq));
    std::string value = trim(line.substr(eq + 1));
    long n = 0;
    if (key == "listen") {
      auto a = net::InetAddress::parse(value);
      if (!a) return fail(key, "bad address '" + value + "'");
      c.plan.listen.push_back(*a);
    } else if (key == "workers") {
      if (!number(value, n) || n < 1 || n > 64) return fail(key, "want 1..64");
      c.plan.workers = static_cast<int>(n);
    } else if (key == "reuse_port") {
      if (value != "true" && value != "false") return fail(key, "want true or false");
      c.plan.reuse_port = value == "true";
    } else if (key == "reply") {
      c.reply = value;
    } else if (key == "delay_ms") {
      if (!number(value, n)) return fail(key, "want a number");
      c.delay_ms = n;
    } else if (key == "shutdown_timeout_ms") {
      if (!number(value, n)) return fail(key, "want a number");
      c.plan.shutdown_timeout = std::chrono::milliseconds(n);
    } else if (key == "idle_grace_ms") {
      if (!number(value, n)) return fail(key, "want a number");
      c.idle_grace_ms = n;
    } else if (key == "fatal") {
      c.fatal = value == "true";
    } else if (key == "log") {
      c.log_path = value;
    } else {
      return fail(key, "unknown key");
    }
  }
  if (c.plan.listen.empty()) return path + ": no listen address";
  out = c;
  return std::nullopt;
}

struct Conn {
  bool busy = false;
  bool draining = false;
  std::unique_ptr<Timer> delay;
  std::unique_ptr<Timer> grace;
};

class LineHandler final : public net::TypedHandler<Conn> {
 public:
  LineHandler(const Config& config, proc::WorkerEnv& env) : config_(config), env_(env) { reopen(); }
  ~LineHandler() override {
    if (log_fd_ >= 0) ::close(log_fd_);
  }

  void reopen() {
    if (config_.log_path.empty()) return;
    int fd = ::open(config_.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (log_fd_ >= 0) ::close(log_fd_);
    log_fd_ = fd;
  }

  void on_open(net::TcpConnection&, Conn&) override {
    if (env_.my_stats) {
      env_.my_stats->add(proc::Counter::kAccepted);
      env_.my_stats->add(proc::Counter::kActive);
    }
  }
  void on_close(net::TcpConnection&, Conn&, net::CloseReason) override {
    if (env_.my_stats) env_.my_stats->add(proc::Counter::kActive, -1);
  }
  void on_message(net::TcpConnection& c, Conn& ctx, mem::InputBuffer& in) override {
    while (!ctx.busy && c.connected()) {
      auto nl = in.view().find('\n');
      if (nl == std::string_view::npos) return;
      in.consume(nl + 1);
      if (config_.delay_ms > 0) {
        ctx.busy = true;
        ctx.delay = std::make_unique<Timer>(c.loop(), [this, &c, &ctx] {
          ctx.busy = false;
          answer(c, ctx);
          if (c.connected() && !c.input().empty()) on_message(c, ctx, c.input());
        });
        ctx.delay->start(std::chrono::milliseconds(config_.delay_ms));
        return;
      }
      answer(c, ctx);
    }
  }
  // Graceful stop: an in-flight request is answered with " close"; an idle
  // connection gets the grace period for one more request, then closes.
  void on_drain(net::TcpConnection& c, Conn& ctx) override {
    ctx.draining = true;
    if (ctx.busy) return;
    ctx.grace = std::make_unique<Timer>(c.loop(), [&c, &ctx] {
      if (!ctx.busy && c.connected()) c.close();
    });
    ctx.grace->start(std::chrono::milliseconds(config_.idle_grace_ms));
  }

 private:
  void answer(net::TcpConnection& c, Conn& ctx) {
    std::string line = config_.reply + " " + std::to_string(::getpid()) + " " +
                       std::to_string(env_.generation) + (ctx.draining ? " close" : "") + "\n";
    (void)c.send(line);
    if (env_.my_stats) env_.my_stats->add(proc::Counter::kRequests);
    if (log_fd_ >= 0) {
      ssize_t ignored = ::write(log_fd_, line.data(), line.size());
      (void)ignored;
    }
    if (ctx.draining) c.shutdown();
  }

  const Config& config_;
  proc::WorkerEnv& env_;
  int log_fd_ = -1;
};

class LineProgram final : public proc::Program {
 public:
  explicit LineProgram(std::string path) : path_(std::move(path)) {}
  std::optional<std::string> stage() override { return parse_config(path_, staged_); }
  const proc::Plan& staged_plan() const override { return staged_.plan; }
  void commit() override { current_ = staged_; }
  const proc::Plan& plan() const override { return current_.plan; }

  int run_worker(proc::WorkerEnv& env) override {
    if (current_.fatal) {
      SLUICE_LOG(kError, "worker: fatal configuration");
      return proc::kExitFatalConfig;
    }
    SLUICE_LOG(kInfo, "worker start slot=%d generation=%llu", env.slot,
               static_cast<unsigned long long>(env.generation));
    EventLoop loop;
    LineHandler handler(current_, env);
    net::TcpServerOptions options;
    options.inherited_fds = env.listen_fds;
    options.threads = 1;
    net::TcpServer server(options, handler);
    bool graceful = false;
    proc::WorkerControl control(loop, env.master_pid,
                                {.graceful_stop =
                                     [&] {
                                       graceful = true;
                                       loop.stop();
                                     },
                                 .fast_stop = [&] { loop.stop(); },
                                 .reopen_logs =
                                     [&] {
                                       for (std::size_t i = 0; i < server.loop_count(); ++i)
                                         server.loop(i).post([&handler] { handler.reopen(); });
                                     }});
    if (auto st = server.start(); !st) {
      SLUICE_LOG(kError, "worker: cannot start: %s", st.error().message().c_str());
      return proc::kExitFailure;
    }
    loop.run();
    // Graceful: listeners close, on_drain runs on every connection, and the
    // server waits for them up to the shutdown timeout.
    server.stop(graceful ? current_.plan.shutdown_timeout : Duration::zero());
    return proc::kExitOk;
  }

 private:
  std::string path_;
  Config staged_;
  Config current_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string config;
  std::string pid_file;
  std::string command;
  bool test_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc)
      config = argv[++i];
    else if (arg == "--pid-file" && i + 1 < argc)
      pid_file = argv[++i];
    else if (arg == "-s" && i + 1 < argc)
      command = argv[++i];
    else if (arg == "-t")
      test_only = true;
    else {
      std::fprintf(stderr, "line-server: bad argument '%s'\n", arg.c_str());
      return 2;
    }
  }
  if (!command.empty()) return proc::signal_master(pid_file, command);
  LineProgram program(config);
  if (test_only) {
    if (auto err = program.stage()) {
      std::fprintf(stderr, "%s\n", err->c_str());
      return 1;
    }
    std::printf("configuration %s is ok\n", config.c_str());
    return 0;
  }
  proc::MasterOptions options;
  options.pid_file = pid_file;
  options.fatal_backoff_initial = std::chrono::seconds(5);
  proc::Master master(program, options);
  return master.run();
}
