// Results: the figures of one run, per worker thread and merged.
// Every counter is 64-bit (byte counts pass 4 GiB in seconds).
// Thread rules: a worker owns its WorkerStats; the runner merges them into
// Results after the workers have joined.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "histogram.h"

namespace sluice::bench {

// Each error closes the connection it happened on.
struct ErrorCounts {
  std::uint64_t connect = 0;   // socket/connect failed or was refused
  std::uint64_t read = 0;      // reset, or closed before a response was complete
  std::uint64_t write = 0;     // send failed
  std::uint64_t timeout = 0;   // no progress on a connection for --timeout
  std::uint64_t protocol = 0;  // a malformed response

  std::uint64_t total() const noexcept { return connect + read + write + timeout + protocol; }
  void add(const ErrorCounts& o) noexcept {
    connect += o.connect;
    read += o.read;
    write += o.write;
    timeout += o.timeout;
    protocol += o.protocol;
  }
};

struct WorkerStats {
  static constexpr int kCodes = 600;  // status codes 0..599 counted one by one

  std::uint64_t sent = 0;        // requests written (wholly or partly) to a socket
  std::uint64_t completed = 0;   // complete responses (or, with -f, requests written)
  std::uint64_t lost = 0;        // sent, but their connection failed before the response
  std::uint64_t unfinished = 0;  // in flight when the run stopped (-d): neither
  std::uint64_t bytes_read = 0;
  std::uint64_t bytes_written = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t status_other = 0;  // codes >= 600
  std::array<std::uint64_t, kCodes> status{};
  ErrorCounts errors;
  Histogram latency;              // from the intended send time (== actual without --rate)
  Histogram latency_uncorrected;  // from the actual send time

  void add(const WorkerStats& o) noexcept;
};

struct Results {
  WorkerStats totals;
  double seconds = 0;  // from start to the last worker's end
  std::uint32_t threads = 0;
  std::uint32_t connections = 0;
  bool rate_mode = false;
  std::uint64_t nofile_limit = 0;

  double requests_per_second() const noexcept {
    return seconds > 0 ? static_cast<double>(totals.completed) / seconds : 0;
  }
  double bytes_per_second() const noexcept {
    return seconds > 0 ? static_cast<double>(totals.bytes_read) / seconds : 0;
  }
  std::uint64_t status_class(int hundreds) const noexcept;  // 1..5
  std::uint64_t non_2xx() const noexcept;
  // (code, count) for every code seen, ascending.
  std::vector<std::pair<int, std::uint64_t>> status_codes() const;
};

}  // namespace sluice::bench
