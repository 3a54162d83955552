// Worker: one thread, one EventLoop, a share of the connections.
//
// The thread builds everything that touches its loop (connections, timers)
// and tears it down before the loop, so no loop object is ever used from
// another thread. The runner talks to a worker only through request_stop()
// (posted to the loop), the relaxed progress counters, and, after join(),
// stats().
// Thread rules: construct, start, join and destroy on one (the runner's) thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "results.h"
#include "sluice/base/clock.h"
#include "sluice/loop/event_loop.h"
#include "sluice/net/inet_address.h"

namespace sluice::bench {

struct Options;

struct WorkerPlan {
  const Options* options = nullptr;
  const std::string* batch = nullptr;  // the request, `pipeline` times
  std::size_t request_size = 0;
  net::InetAddress target;
  const std::vector<net::InetAddress>* sources = nullptr;
  std::uint32_t first_connection = 0;  // global index of this worker's first connection
  std::uint32_t connections = 0;
  std::uint32_t total_connections = 0;
  bool limited = false;
  std::uint64_t budget = 0;      // requests this worker sends when limited
  std::int64_t interval_ns = 0;  // --rate: per connection; 0: closed loop
  std::int64_t start_ns = 0;     // the run's start on the steady clock
  std::int64_t deadline_ns = 0;  // 0: none
};

class Worker {
 public:
  explicit Worker(WorkerPlan plan);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();
  // Thread-safe: ends the run on this worker (in-flight requests: unfinished).
  void request_stop();
  bool finished() const noexcept { return finished_.load(std::memory_order_acquire); }
  void join();

  // After join().
  WorkerStats& stats() noexcept { return stats_; }
  std::int64_t end_ns() const noexcept { return end_ns_; }

  // Progress, readable from any thread at any time (relaxed).
  std::uint64_t progress_completed() const noexcept {
    return pub_completed_.load(std::memory_order_relaxed);
  }
  std::uint64_t progress_errors() const noexcept {
    return pub_errors_.load(std::memory_order_relaxed);
  }
  std::uint32_t progress_open() const noexcept { return pub_open_.load(std::memory_order_relaxed); }

 private:
  void thread_main();
  void finish();  // loop thread
  void publish() noexcept;
  static void on_connection_done(void* self);

  WorkerPlan plan_;
  WorkerStats stats_;
  std::thread thread_;
  std::mutex loop_mutex_;
  EventLoop* loop_ = nullptr;    // guarded by loop_mutex_; set while the loop lives
  bool stop_requested_ = false;  // guarded by loop_mutex_
  bool finishing_ = false;       // loop thread
  std::int64_t end_ns_ = 0;
  struct Context;
  Context* ctx_ = nullptr;  // loop thread
  std::atomic<bool> finished_{false};
  std::atomic<std::uint64_t> pub_completed_{0};
  std::atomic<std::uint64_t> pub_errors_{0};
  std::atomic<std::uint32_t> pub_open_{0};
};

}  // namespace sluice::bench
