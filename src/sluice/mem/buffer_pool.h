// BufferPool: I/O blocks by size class (size_class.h), reused instead of
// malloc'd.
//
// Thread rules: every member is thread-safe. allocate()/release() first use a
// per-thread cache of free blocks (no lock, no atomic read-modify-write on the
// common path); the cache spills half of its blocks to a shared depot (one
// mutex per class) when it grows past its bound, and refills from the depot in
// batches. A block released on another thread than the one that allocated it
// simply joins that thread's cache: blocks belong to the pool, not a thread.
// The pool must outlive every IoBuf it handed out; a thread's cache is given
// back to the depot when the thread exits or when the pool is destroyed.
//
// Memory limit: bytes held by the pool (in use, in thread caches or in the
// depot) never exceed `limit_bytes`. Reaching it fails allocate() with
// Errc::kPoolLimit: the caller handles it (close one connection, answer 503),
// the process never exits. Blocks given back to the system by trim() lower the
// held figure, and allocation succeeds again.
//
// Debug builds (!NDEBUG) detect a block released twice (logged and counted,
// the second release ignored) and, under ASan, poison free blocks.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "sluice/base/error.h"
#include "sluice/mem/io_buf.h"
#include "sluice/mem/size_class.h"

namespace sluice::mem {

struct PoolOptions {
  // Bytes the pool may hold from the system; 0 means no limit.
  std::size_t limit_bytes = 0;
  // Blocks of each class allocated up front (counted against the limit).
  std::array<std::size_t, kNumClasses> prealloc{};
  // trim() keeps at most this many free blocks of each class in the depot and
  // gives the rest back to the system. Default: keep none.
  std::array<std::size_t, kNumClasses> trim_keep{};
  // Free blocks a thread cache keeps per class before spilling to the depot.
  std::size_t thread_cache_blocks = 64;
};

struct ClassStats {
  std::uint64_t in_use = 0;       // blocks handed out and not yet released
  std::uint64_t free = 0;         // blocks held free (thread caches + depot)
  std::uint64_t from_system = 0;  // blocks obtained from the system, ever
  std::uint64_t to_system = 0;    // blocks given back to the system, ever
  std::uint64_t high_water = 0;   // most blocks held at once (in use + free)
  std::uint64_t failures = 0;     // allocations refused by the limit
};

struct PoolStats {
  std::array<ClassStats, kNumClasses> classes{};
  std::size_t held_bytes = 0;  // in use + free, as counted by the limit
  std::size_t limit_bytes = 0;
  std::uint64_t double_frees = 0;  // detected in debug builds only
  std::uint64_t too_large = 0;     // requests above the largest class
};

class BufferPool {
 public:
  explicit BufferPool(PoolOptions options = {});
  ~BufferPool();
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;

  // The process-wide pool (no limit unless set_limit() is called).
  static BufferPool& global();

  // A block of the smallest class holding `min_capacity` bytes.
  // Errors: Errc::kTooLarge above 8M, Errc::kPoolLimit at the limit.
  Result<IoBuf> allocate(std::size_t min_capacity);

  // Gives free blocks above each class's trim_keep back to the system,
  // including those parked in the calling thread's cache. Returns bytes freed.
  std::size_t trim();

  void set_limit(std::size_t limit_bytes) noexcept;
  std::size_t held_bytes() const noexcept;
  PoolStats stats() const;

  // Called by IoBuf; not for users.
  void release(std::byte* block, std::uint8_t size_class) noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::mem
