#include "sluice/proc/shared_stats.h"

#include <sys/mman.h>

#include <new>

namespace sluice::proc {

SharedStats* SharedStats::create() noexcept {
  void* mem = ::mmap(nullptr, sizeof(SharedStats), PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return nullptr;
  return new (mem) SharedStats();
}

void SharedStats::destroy(SharedStats* stats) noexcept {
  if (!stats) return;
  stats->~SharedStats();
  ::munmap(stats, sizeof(SharedStats));
}

int SharedStats::claim(std::int64_t pid, std::uint64_t generation) noexcept {
  for (std::size_t i = 0; i < kMaxSlots; ++i) {
    std::int64_t expected = 0;
    if (slots_[i].pid.compare_exchange_strong(expected, pid, std::memory_order_acq_rel)) {
      slots_[i].generation.store(generation, std::memory_order_relaxed);
      return static_cast<int>(i);
    }
  }
  return -1;
}

void SharedStats::release(std::size_t i) noexcept {
  if (i >= kMaxSlots) return;
  for (std::size_t c = kFirstGauge; c < kNumCounters; ++c)
    slots_[i].values[c].store(0, std::memory_order_relaxed);
  slots_[i].pid.store(0, std::memory_order_release);
}

std::int64_t SharedStats::total(Counter c) const noexcept {
  std::int64_t sum = 0;
  for (const StatsSlot& s : slots_) sum += s.get(c);
  return sum;
}

std::size_t SharedStats::live_workers() const noexcept {
  std::size_t n = 0;
  for (const StatsSlot& s : slots_) n += s.pid.load(std::memory_order_relaxed) != 0;
  return n;
}

}  // namespace sluice::proc
