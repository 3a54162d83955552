// SharedStats: counters that every worker process updates and any worker can
// read, in a shared anonymous mapping the master creates before it forks.
//
// Each worker owns one slot (a cache line of its own, so workers never write
// the same line). Totals are the sums over slots. When a worker dies the
// master zeroes its gauges; cumulative counters stay, so totals never go back.
// Thread rules: the counters are relaxed atomics; any thread of any process
// sharing the mapping may add or read.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace sluice::proc {

enum class Counter : std::size_t {
  // cumulative
  kAccepted = 0,
  kHandled,
  kRequests,
  // gauges (zeroed when the worker of a slot exits)
  kActive,
  kReading,
  kWriting,
  kWaiting,
  kPoolHeldBytes,
  kPoolInUseBlocks,
  kPoolFreeBlocks,
  kCount
};
inline constexpr std::size_t kFirstGauge = static_cast<std::size_t>(Counter::kActive);
inline constexpr std::size_t kNumCounters = static_cast<std::size_t>(Counter::kCount);

struct alignas(64) StatsSlot {
  std::atomic<std::int64_t> pid{0};  // 0: free
  std::atomic<std::uint64_t> generation{0};
  std::array<std::atomic<std::int64_t>, kNumCounters> values{};

  void add(Counter c, std::int64_t delta = 1) noexcept {
    values[static_cast<std::size_t>(c)].fetch_add(delta, std::memory_order_relaxed);
  }
  void set(Counter c, std::int64_t v) noexcept {
    values[static_cast<std::size_t>(c)].store(v, std::memory_order_relaxed);
  }
  std::int64_t get(Counter c) const noexcept {
    return values[static_cast<std::size_t>(c)].load(std::memory_order_relaxed);
  }
};

class SharedStats {
 public:
  static constexpr std::size_t kMaxSlots = 128;

  // Maps a new shared segment; nullptr when mmap fails.
  static SharedStats* create() noexcept;
  // Unmaps (the master, at exit).
  static void destroy(SharedStats* stats) noexcept;

  StatsSlot& slot(std::size_t i) noexcept { return slots_[i]; }
  const StatsSlot& slot(std::size_t i) const noexcept { return slots_[i]; }
  // A free slot claimed for `pid`, or -1 when all are taken.
  int claim(std::int64_t pid, std::uint64_t generation) noexcept;
  // Frees the slot and zeroes its gauges.
  void release(std::size_t i) noexcept;
  std::int64_t total(Counter c) const noexcept;
  std::size_t live_workers() const noexcept;

 private:
  std::array<StatsSlot, kMaxSlots> slots_;
};

}  // namespace sluice::proc
