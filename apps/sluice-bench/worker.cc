#include "worker.h"

#include <pthread.h>

#include <algorithm>
#include <memory>

#include "connection.h"
#include "options.h"

namespace sluice::bench {

struct Worker::Context {
  WorkerContext shared;
  std::vector<std::unique_ptr<Connection>> connections;
};

namespace {
constexpr std::size_t kScratchBytes = 64 * 1024;
}  // namespace

Worker::Worker(WorkerPlan plan) : plan_(std::move(plan)) {}

Worker::~Worker() { join(); }

void Worker::start() {
  thread_ = std::thread([this] { thread_main(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::request_stop() {
  std::lock_guard<std::mutex> lock(loop_mutex_);
  stop_requested_ = true;
  if (loop_ != nullptr) loop_->post([this] { finish(); });
}

void Worker::on_connection_done(void* self) {
  auto* w = static_cast<Worker*>(self);
  if (w->ctx_->shared.done_connections == w->ctx_->connections.size()) w->finish();
}

void Worker::publish() noexcept {
  pub_completed_.store(stats_.completed, std::memory_order_relaxed);
  pub_errors_.store(stats_.errors.total(), std::memory_order_relaxed);
  pub_open_.store(ctx_ != nullptr ? ctx_->shared.open_connections : 0, std::memory_order_relaxed);
}

// Loop thread: stop sending, stop the loop; teardown follows run().
void Worker::finish() {
  if (finishing_) return;
  finishing_ = true;
  end_ns_ = now_ns();
  ctx_->shared.stopping = true;
  ctx_->shared.loop->stop();
}

void Worker::thread_main() {
  ::pthread_setname_np(::pthread_self(), "sluice-bench");
  EventLoop loop;
  Context ctx;
  ctx_ = &ctx;
  std::vector<char> scratch(kScratchBytes);
  WorkerContext& s = ctx.shared;
  s.loop = &loop;
  s.options = plan_.options;
  s.batch = *plan_.batch;
  s.request_size = plan_.request_size;
  s.target = plan_.target;
  s.sources = plan_.sources;
  s.stats = &stats_;
  s.scratch = scratch.data();
  s.scratch_size = scratch.size();
  s.limited = plan_.limited;
  s.budget_left = plan_.budget;
  s.interval_ns = plan_.interval_ns;
  s.timeout_ns = plan_.options->timeout.count();
  s.record_uncorrected = plan_.interval_ns != 0;
  s.on_connection_done = &Worker::on_connection_done;
  s.worker = this;

  ctx.connections.reserve(plan_.connections);
  for (std::uint32_t i = 0; i < plan_.connections; ++i) {
    const std::uint32_t global = plan_.first_connection + i;
    // --rate: connection i's first request is due i/N of an interval in, so
    // the requests of all connections interleave evenly.
    const std::int64_t offset =
        plan_.interval_ns == 0 ? 0
                               : static_cast<std::int64_t>(static_cast<double>(plan_.interval_ns) *
                                                           global / plan_.total_connections);
    ctx.connections.push_back(std::make_unique<Connection>(s, global, plan_.start_ns + offset));
  }

  // Timers after the connections: destroyed first, on this thread.
  Timer deadline(loop, [this] { finish(); });
  if (plan_.deadline_ns != 0) {
    deadline.start(
        std::chrono::nanoseconds(std::max<std::int64_t>(plan_.deadline_ns - now_ns(), 0)));
  }
  const auto sweep_every = std::clamp(plan_.options->timeout / 8,
                                      std::chrono::nanoseconds(std::chrono::milliseconds(10)),
                                      std::chrono::nanoseconds(std::chrono::milliseconds(250)));
  Timer sweep(loop, [this, &ctx] {
    const std::int64_t now = now_ns();
    for (auto& c : ctx.connections) c->check_timeout(now);
    // Nothing ever connected for a whole --timeout: the target is down; give
    // up rather than retry forever (matters for -n runs without -d).
    if (!ctx.shared.ever_connected && ctx.shared.stats->errors.connect > 0 &&
        now - plan_.start_ns > ctx.shared.timeout_ns)
      finish();
  });
  sweep.start(sweep_every, sweep_every);
  Timer progress(loop, [this] { publish(); });
  progress.start(std::chrono::milliseconds(100), std::chrono::milliseconds(100));

  {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    loop_ = &loop;
    if (stop_requested_) loop.post([this] { finish(); });
  }
  const std::int64_t start = now_ns();
  for (auto& c : ctx.connections) {
    if (s.stopping) break;
    c->start(start);
  }
  if (plan_.connections == 0) finish();
  loop.run();  // returns at once when finish() already ran
  if (!finishing_) end_ns_ = now_ns();
  {
    std::lock_guard<std::mutex> lock(loop_mutex_);
    loop_ = nullptr;
  }
  for (auto& c : ctx.connections) c->stop();
  publish();
  ctx.connections.clear();
  ctx_ = nullptr;
  finished_.store(true, std::memory_order_release);
}

}  // namespace sluice::bench
