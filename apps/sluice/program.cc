#include "program.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "access_log.h"
#include "mime.h"
#include "sluice/base/log.h"
#include "sluice/http/server.h"
#include "sluice/proc/worker_control.h"
#include "static_files.h"

namespace sluice::app {

SluiceProgram::SluiceProgram(std::string config_path, Overrides overrides)
    : config_path_(std::move(config_path)), overrides_(std::move(overrides)) {
  // Before the master forks, so that every worker shares it.
  board_ = PoolBoard::create();
}

SluiceProgram::~SluiceProgram() { PoolBoard::destroy(board_); }

std::optional<std::string> SluiceProgram::stage() {
  return load_config(config_path_, overrides_, staged_);
}

void SluiceProgram::commit() {
  current_ = staged_;
  open_error_log(current_);
}

void SluiceProgram::open_error_log(const Config& config) {
  log::set_level(config.error_level);
  if (config.error_log == "stderr") {
    log::set_fd(-1);
    error_log_fd_.reset();
    return;
  }
  int fd = ::open(config.error_log.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    SLUICE_LOG(kError, "error log %s: %s (keeping the previous one)", config.error_log.c_str(),
               std::strerror(errno));
    return;
  }
  log::set_fd(fd);
  error_log_fd_.reset(fd);  // closes the previous descriptor after the switch
}

void SluiceProgram::reopen_logs() { open_error_log(current_); }

int SluiceProgram::run_worker(proc::WorkerEnv& env) {
  const Config& c = current_;
  if (c.pool_memory > 0) mem::BufferPool::global().set_limit(c.pool_memory);

  MimeTypes mime(c.mime_types, c.default_type);
  StaticFiles files({.root = c.root,
                     .index = c.index,
                     .directory_listing = c.directory_listing,
                     .symlinks_outside_root = c.symlinks_outside_root,
                     .cache_valid = c.open_file_cache_valid,
                     .cache_entries = c.open_file_cache_entries},
                    mime);
  if (auto st = files.open_root(); !st) {
    SLUICE_LOG(kError, "worker: cannot open root %s: %s", c.root.c_str(),
               st.error().message().c_str());
    return proc::kExitFatalConfig;
  }
  std::unique_ptr<AccessLog> access;
  if (c.access_log != "off") {
    access = std::make_unique<AccessLog>(c.access_log, c.access_log_format == "combined_time",
                                         c.access_log_buffer);
    if (!access->reopen()) {
      SLUICE_LOG(kError, "worker: cannot open access log %s: %s", c.access_log.c_str(),
                 std::strerror(errno));
      return proc::kExitFatalConfig;
    }
  }

  // This worker's figures for the status endpoint.
  std::size_t board_slot = proc::SharedStats::kMaxSlots;
  if (env.stats && env.my_stats)
    board_slot = static_cast<std::size_t>(env.my_stats - &env.stats->slot(0));
  const std::int64_t pid = ::getpid();
  auto publish = [&] {
    mem::PoolStats ps = mem::BufferPool::global().stats();
    if (board_) board_->publish(board_slot, pid, ps);
    if (env.my_stats) {
      std::uint64_t in_use = 0, free = 0;
      for (const mem::ClassStats& cs : ps.classes) {
        in_use += cs.in_use;
        free += cs.free;
      }
      env.my_stats->set(proc::Counter::kPoolHeldBytes, static_cast<std::int64_t>(ps.held_bytes));
      env.my_stats->set(proc::Counter::kPoolInUseBlocks, static_cast<std::int64_t>(in_use));
      env.my_stats->set(proc::Counter::kPoolFreeBlocks, static_cast<std::int64_t>(free));
    }
  };
  publish();

  auto allowed = [&c](const http::ServerRequest& request) {
    net::InetAddress peer = request.connection.peer_address();
    for (const AddressRange& r : c.status_allow)
      if (r.contains(peer)) return true;
    return false;
  };
  auto forbidden = [](http::Response& response) {
    response.status(403).header("Content-Type", "text/plain; charset=utf-8").send("forbidden\n");
  };

  http::Router router;
  if (c.status_enabled) {
    router.get(c.status_path, [&](http::ServerRequest& request, http::Response& response) {
      if (access) AccessLog::note_request(request.head);
      if (!allowed(request)) return forbidden(response);
      publish();
      StatusFigures f = collect_status(env.stats, board_);
      response.header("Cache-Control", "no-store");
      if (request.query_param("format") == "json") {
        response.header("Content-Type", "application/json").send(render_status_json(f));
      } else {
        response.header("Content-Type", "text/plain; charset=utf-8").send(render_status_text(f));
      }
    });
    router.get(c.metrics_path, [&](http::ServerRequest& request, http::Response& response) {
      if (access) AccessLog::note_request(request.head);
      if (!allowed(request)) return forbidden(response);
      publish();
      StatusFigures f = collect_status(env.stats, board_);
      response.header("Cache-Control", "no-store")
          .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
          .send(render_prometheus(f));
    });
  }
  router.get("/*", [&files, &access](http::ServerRequest& request, http::Response& response) {
    if (access) AccessLog::note_request(request.head);
    files.serve(request, response);
  });

  http::ServerOptions options;
  options.tcp.inherited_fds = env.listen_fds;
  options.tcp.threads = 1;
  options.tcp.max_connections_per_loop = c.connections_per_worker;
  options.limits = c.limits;
  options.header_timeout = c.header_timeout;
  options.body_timeout = c.body_timeout;
  options.keepalive_timeout = c.keepalive_timeout;
  options.send_timeout = c.send_timeout;
  options.max_requests_per_connection = c.requests_per_connection;
  options.max_buffered_body = static_cast<std::size_t>(
      std::min<std::uint64_t>(c.limits.max_body_size, std::uint64_t{1} << 20));
  options.stats = env.my_stats;
  http::HttpServer server(options, router);
  if (access) server.set_logger([&access](const http::LogRecord& r) { access->record(r); });

  EventLoop loop;
  Timer tick(loop, [&] {
    if (access) access->flush();
    publish();
  });
  tick.start(std::chrono::seconds(1), std::chrono::seconds(1));
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
                                     open_error_log(c);
                                     if (access && !access->reopen())
                                       SLUICE_LOG(kError, "worker: cannot reopen %s: %s",
                                                  c.access_log.c_str(), std::strerror(errno));
                                   }});
  if (auto st = server.start(); !st) {
    SLUICE_LOG(kError, "worker: cannot start: %s", st.error().message().c_str());
    return proc::kExitFailure;
  }
  loop.run();
  // Graceful: the listeners close, each connection finishes its request and
  // the server waits for them up to the shutdown timeout.
  server.stop(graceful ? c.plan.shutdown_timeout : Duration::zero());
  if (access) access->flush();
  return proc::kExitOk;
}

}  // namespace sluice::app
