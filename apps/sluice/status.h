// The status endpoint: whole-server figures across every worker, like
// nginx's stub_status, as text, JSON, or Prometheus text format.
//
// Connection and request counters come from proc::SharedStats (the HTTP core
// counts into each worker's slot). The buffer pool's figures per size class
// come from a PoolBoard: a second shared mapping, created by the master
// before it forks, where each worker publishes its own pool's figures into
// the slot index its SharedStats slot has; a board slot counts only while
// its pid matches the live SharedStats slot, so a dead worker's figures drop
// out of the totals.
// Thread rules: PoolBoard members are relaxed atomics, safe from any process
// sharing the mapping; the render functions are pure.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sluice/mem/buffer_pool.h"
#include "sluice/proc/shared_stats.h"

namespace sluice::app {

class PoolBoard {
 public:
  static PoolBoard* create() noexcept;  // nullptr when mmap fails
  static void destroy(PoolBoard* board) noexcept;

  void publish(std::size_t slot, std::int64_t pid, const mem::PoolStats& stats) noexcept;
  // The sum over the slots whose worker is alive in `stats`.
  mem::PoolStats total(const proc::SharedStats& stats) const noexcept;

 private:
  static constexpr std::size_t kFields =
      6;  // in_use free from_system to_system high_water failures
  struct Slot {
    std::atomic<std::int64_t> pid{0};
    std::atomic<std::uint64_t> held_bytes{0};
    std::atomic<std::uint64_t> limit_bytes{0};
    std::array<std::array<std::atomic<std::uint64_t>, kFields>, mem::kNumClasses> classes{};
  };
  std::array<Slot, proc::SharedStats::kMaxSlots> slots_;
};

struct StatusFigures {
  std::int64_t active = 0;
  std::int64_t reading = 0;
  std::int64_t writing = 0;
  std::int64_t waiting = 0;
  std::int64_t accepted = 0;
  std::int64_t handled = 0;
  std::int64_t requests = 0;
  std::size_t workers = 0;
  mem::PoolStats pool;
};

// Totals from the shared segments; either may be null (figures stay zero).
StatusFigures collect_status(const proc::SharedStats* stats, const PoolBoard* board);

// nginx's stub_status lines, then one line per pool size class.
std::string render_status_text(const StatusFigures& f);
std::string render_status_json(const StatusFigures& f);
std::string render_prometheus(const StatusFigures& f);

}  // namespace sluice::app
