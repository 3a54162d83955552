#include "runner.h"

#include <sched.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "connection.h"
#include "request.h"
#include "sluice/net/socket.h"
#include "worker.h"

namespace sluice::bench {
namespace {

void print_progress(std::FILE* out, int second, std::uint64_t delta_completed, std::uint64_t errors,
                    std::uint32_t open) {
  std::fprintf(out, "\r[%3ds] %10llu req/s, errors %llu, connections %u   ", second,
               static_cast<unsigned long long>(delta_completed),
               static_cast<unsigned long long>(errors), open);
  std::fflush(out);
}

}  // namespace

unsigned usable_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? hc : 1;
}

std::optional<Results> run(const Options& options, const RunControl& control, std::string& error) {
  auto resolved = net::InetAddress::resolve(options.url.host_port());
  if (!resolved || resolved->empty()) {
    error = "cannot resolve '" + options.url.host_port() + "': " + resolved.error().message();
    return std::nullopt;
  }
  const net::InetAddress target = resolved->front();
  std::vector<net::InetAddress> sources;
  for (const std::string& s : options.sources) {
    auto addr = net::InetAddress::from_ip(s, 0);
    if (!addr) {
      error = "bad source address '" + s + "'";
      return std::nullopt;
    }
    if (addr->family() != target.family()) {
      error = "source address '" + s + "' is not of the target's address family";
      return std::nullopt;
    }
    sources.push_back(*addr);
  }

  const std::uint32_t threads =
      std::min(options.connections, options.threads != 0 ? options.threads : usable_cpus());
  // A descriptor per connection, plus epoll, eventfd and timerfd per loop and
  // some slack for stdio, the resolver and the tests' own server.
  const std::uint64_t want = std::uint64_t{options.connections} + 3ULL * threads + 64;
  Results results;
  results.nofile_limit = net::raise_nofile_limit(want);
  if (results.nofile_limit < want) {
    error = "RLIMIT_NOFILE is " + std::to_string(results.nofile_limit) + ", " +
            std::to_string(want) + " descriptors are needed (raise the hard limit or use fewer -c)";
    return std::nullopt;
  }

  const std::string request = render_request(options);
  std::string batch;
  batch.reserve(request.size() * options.pipeline);
  for (std::uint32_t i = 0; i < options.pipeline; ++i) batch += request;

  const std::int64_t start = now_ns();
  std::int64_t interval = 0;
  if (options.rate > 0) {
    interval = static_cast<std::int64_t>(1e9 * options.connections / options.rate);
    if (interval < 1) interval = 1;
  }
  std::vector<std::unique_ptr<Worker>> workers;
  std::uint32_t first = 0;
  for (std::uint32_t t = 0; t < threads; ++t) {
    WorkerPlan plan;
    plan.options = &options;
    plan.batch = &batch;
    plan.request_size = request.size();
    plan.target = target;
    plan.sources = &sources;
    plan.first_connection = first;
    plan.connections = options.connections / threads + (t < options.connections % threads ? 1 : 0);
    plan.total_connections = options.connections;
    plan.limited = options.requests > 0;
    plan.budget = options.requests / threads + (t < options.requests % threads ? 1 : 0);
    plan.interval_ns = interval;
    plan.start_ns = start;
    plan.deadline_ns = options.duration.count() > 0 ? start + options.duration.count() : 0;
    first += plan.connections;
    workers.push_back(std::make_unique<Worker>(std::move(plan)));
  }
  for (auto& w : workers) w->start();

  // Wait, watching for the interrupt and printing progress once a second.
  using namespace std::chrono_literals;
  bool stopped = false;
  std::uint64_t last_completed = 0;
  int second = 0;
  auto next_progress = std::chrono::steady_clock::now() + 1s;
  for (;;) {
    const bool all_done =
        std::all_of(workers.begin(), workers.end(), [](const auto& w) { return w->finished(); });
    if (all_done) break;
    if (!stopped && control.interrupt != nullptr && control.interrupt->load()) {
      for (auto& w : workers) w->request_stop();
      stopped = true;
    }
    std::this_thread::sleep_for(10ms);
    if (control.progress != nullptr && std::chrono::steady_clock::now() >= next_progress) {
      next_progress += 1s;
      ++second;
      std::uint64_t completed = 0;
      std::uint64_t errors = 0;
      std::uint32_t open = 0;
      for (auto& w : workers) {
        completed += w->progress_completed();
        errors += w->progress_errors();
        open += w->progress_open();
      }
      print_progress(control.progress, second, completed - last_completed, errors, open);
      last_completed = completed;
    }
  }
  if (control.progress != nullptr && second > 0) {
    std::fprintf(control.progress, "\r%*s\r", 72, "");
    std::fflush(control.progress);
  }

  std::int64_t end = start;
  for (auto& w : workers) {
    w->join();
    end = std::max(end, w->end_ns());
    results.totals.add(w->stats());
  }
  if (interval == 0) results.totals.latency_uncorrected.merge(results.totals.latency);
  results.seconds = static_cast<double>(end - start) / 1e9;
  results.threads = threads;
  results.connections = options.connections;
  results.rate_mode = interval != 0;
  return results;
}

}  // namespace sluice::bench
