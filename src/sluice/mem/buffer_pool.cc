// BufferPool: per-thread caches over a depot per size class.
//
// Lifetimes. A thread's cache for one pool (ThreadCache) is created on the
// thread's first use of that pool, registered in the pool, and reached through
// a thread_local list keyed by the pool's id (ids are never reused, so a stale
// entry never matches a newer pool at the same address). Two events end the
// pairing, and both run under one process-wide registry mutex:
//   - the thread exits: if the pool still lives, the cache's blocks go to the
//     depot and its counters are folded into the pool; the cache is deleted.
//   - the pool is destroyed: every registered cache is emptied (blocks to the
//     system) and marked orphaned; the thread deletes it later (at exit, or
//     when it next looks up a pool and prunes orphaned entries).
// The hot path touches neither the mutex nor any atomic read-modify-write.
#include "sluice/mem/buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <new>
#include <unordered_map>

#include "sluice/base/log.h"

#if defined(SLUICE_ASAN)
#include <sanitizer/asan_interface.h>
#define SLUICE_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define SLUICE_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define SLUICE_POISON(p, n) ((void)(p), (void)(n))
#define SLUICE_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace sluice::mem {
namespace {

// Bytes a thread cache may park per class: large classes keep few blocks (or
// none) per thread, so idle memory does not hide in thread caches.
constexpr std::size_t kCacheBytesPerClass = std::size_t{2} << 20;

std::mutex& registry_mutex() {
  static auto* mu = new std::mutex;  // leaked: used by thread exits after main returns
  return *mu;
}

std::atomic<std::uint64_t> g_next_pool_id{1};

// A counter written by one thread only (relaxed load + store, no RMW) and read
// by stats() on any thread.
struct OwnedCounter {
  std::atomic<std::uint64_t> v{0};
  void inc() noexcept { v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed); }
  std::uint64_t get() const noexcept { return v.load(std::memory_order_relaxed); }
};

void* map_block(std::size_t bytes) noexcept {
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : p;
}

void unmap_block(std::byte* p, std::size_t bytes) noexcept {
  SLUICE_UNPOISON(p, bytes);
  ::munmap(p, bytes);
}

}  // namespace

struct PoolCore;

struct ThreadCache {
  struct Slot {
    std::byte** blocks = nullptr;  // [0, count) are free blocks
    std::uint32_t count = 0;
    std::uint32_t bound = 0;
  };
  std::array<Slot, kNumClasses> slots{};
  std::array<OwnedCounter, kNumClasses> allocs{};
  std::array<OwnedCounter, kNumClasses> frees{};
  std::unique_ptr<std::byte*[]> storage;
  std::atomic<bool> orphaned{false};  // set (under the registry mutex) by ~BufferPool

  explicit ThreadCache(const std::array<std::uint32_t, kNumClasses>& bounds) {
    std::size_t total = 0;
    for (auto b : bounds) total += b;
    storage = std::make_unique<std::byte*[]>(total == 0 ? 1 : total);
    std::size_t at = 0;
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      slots[c].blocks = storage.get() + at;
      slots[c].bound = bounds[c];
      at += bounds[c];
    }
  }
};

namespace {

struct CacheEntry {
  std::uint64_t pool_id;
  PoolCore* pool;
  ThreadCache* cache;
};

// The fast lookup: the pool this thread used last. Trivially destructible.
thread_local std::uint64_t t_last_id = 0;
thread_local ThreadCache* t_last_cache = nullptr;
// Set once this thread's cache list has been destroyed (thread exit).
thread_local bool t_exited = false;

struct ThreadCacheList {
  std::vector<CacheEntry> entries;
  ~ThreadCacheList();
};

ThreadCacheList& thread_cache_list() {
  thread_local ThreadCacheList list;
  return list;
}

}  // namespace

struct PoolCore {
  struct Depot {
    std::mutex mu;
    std::vector<std::byte*> blocks;
  };
  struct ClassCounters {
    std::atomic<std::uint64_t> from_system{0};
    std::atomic<std::uint64_t> to_system{0};
    std::atomic<std::uint64_t> high_water{0};
    std::atomic<std::uint64_t> failures{0};
    // Counts of exited threads' caches and of releases that bypassed a cache.
    std::atomic<std::uint64_t> allocs{0};
    std::atomic<std::uint64_t> frees{0};
  };

  explicit PoolCore(const PoolOptions& o) : options(o), limit(o.limit_bytes) {
    for (std::size_t c = 0; c < kNumClasses; ++c) {
      std::size_t by_bytes = kCacheBytesPerClass / kClassSizes[c];
      cache_bounds[c] = static_cast<std::uint32_t>(std::min(o.thread_cache_blocks, by_bytes));
    }
  }

  // --- system memory -------------------------------------------------------
  bool reserve_bytes(std::size_t bytes) noexcept {
    std::size_t cur = held.load(std::memory_order_relaxed);
    for (;;) {
      std::size_t lim = limit.load(std::memory_order_relaxed);
      if (lim != 0 && (cur > lim || lim - cur < bytes)) return false;
      if (held.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed)) return true;
    }
  }

  // A new block from the system, counted against the limit; nullptr if the
  // limit or the system refuses.
  std::byte* block_from_system(std::uint8_t c) noexcept {
    const std::size_t size = kClassSizes[c];
    if (!reserve_bytes(size)) return nullptr;
    void* p = map_block(size);
    if (p == nullptr) {
      held.fetch_sub(size, std::memory_order_relaxed);
      SLUICE_LOG_EVERY_MS(kWarn, 1000, "buffer pool: mmap of %zu bytes failed", size);
      return nullptr;
    }
    auto& k = counters[c];
    std::uint64_t from = k.from_system.fetch_add(1, std::memory_order_relaxed) + 1;
    std::uint64_t held_blocks = from - k.to_system.load(std::memory_order_relaxed);
    std::uint64_t hw = k.high_water.load(std::memory_order_relaxed);
    while (held_blocks > hw &&
           !k.high_water.compare_exchange_weak(hw, held_blocks, std::memory_order_relaxed)) {
    }
    debug_track(static_cast<std::byte*>(p), false);
    return static_cast<std::byte*>(p);
  }

  void block_to_system(std::byte* b, std::uint8_t c) noexcept {
    debug_forget(b);
    unmap_block(b, kClassSizes[c]);
    counters[c].to_system.fetch_add(1, std::memory_order_relaxed);
    held.fetch_sub(kClassSizes[c], std::memory_order_relaxed);
  }

  // --- debug double-release detection --------------------------------------
  // Every block the pool got from the system, and whether it is free. Entries
  // are made when a block comes from the system, so steady-state traffic
  // allocates nothing here either.
#ifndef NDEBUG
  std::mutex debug_mu;
  std::unordered_map<std::byte*, bool> debug_blocks;
#endif
  void debug_track(std::byte* b, bool is_free) noexcept {
#ifndef NDEBUG
    std::lock_guard lock(debug_mu);
    try {
      debug_blocks[b] = is_free;
    } catch (...) {
    }
#else
    (void)b, (void)is_free;
#endif
  }
  // Marks a block free; false if it already was free or is not the pool's.
  bool debug_mark_free(std::byte* b) noexcept {
#ifndef NDEBUG
    std::lock_guard lock(debug_mu);
    auto it = debug_blocks.find(b);
    if (it == debug_blocks.end() || it->second) return false;
    it->second = true;
    return true;
#else
    (void)b;
    return true;
#endif
  }
  void debug_mark_used(std::byte* b) noexcept {
#ifndef NDEBUG
    std::lock_guard lock(debug_mu);
    auto it = debug_blocks.find(b);
    if (it != debug_blocks.end()) it->second = false;
#else
    (void)b;
#endif
  }
  void debug_forget(std::byte* b) noexcept {
#ifndef NDEBUG
    std::lock_guard lock(debug_mu);
    debug_blocks.erase(b);
#else
    (void)b;
#endif
  }

  // --- depot -----------------------------------------------------------------
  // Moves blocks into the depot; a vector that cannot grow gives them back to
  // the system instead (never lost, never an exception).
  void depot_put(std::uint8_t c, std::byte* const* blocks, std::size_t n) noexcept {
    {
      std::lock_guard lock(depots[c].mu);
      auto& v = depots[c].blocks;
      try {
        v.insert(v.end(), blocks, blocks + n);
        return;
      } catch (...) {
      }
    }
    for (std::size_t i = 0; i < n; ++i) block_to_system(blocks[i], c);
  }

  std::size_t depot_take(std::uint8_t c, std::byte** out, std::size_t max) noexcept {
    std::lock_guard lock(depots[c].mu);
    auto& v = depots[c].blocks;
    std::size_t n = std::min(max, v.size());
    std::copy(v.end() - static_cast<std::ptrdiff_t>(n), v.end(), out);
    v.resize(v.size() - n);
    return n;
  }

  // Gives depot blocks of class c above `keep` back to the system.
  std::size_t depot_trim(std::uint8_t c, std::size_t keep, std::size_t stop_after_bytes) noexcept {
    std::vector<std::byte*> doomed;
    {
      std::lock_guard lock(depots[c].mu);
      auto& v = depots[c].blocks;
      std::size_t n = v.size() > keep ? v.size() - keep : 0;
      if (stop_after_bytes != 0)
        n = std::min(n, (stop_after_bytes + kClassSizes[c] - 1) / kClassSizes[c]);
      if (n == 0) return 0;
      try {
        doomed.assign(v.end() - static_cast<std::ptrdiff_t>(n), v.end());
      } catch (...) {
        return 0;
      }
      v.resize(v.size() - n);
    }
    for (auto* b : doomed) block_to_system(b, c);
    return doomed.size() * kClassSizes[c];
  }

  [[gnu::noinline]] std::byte* allocate_slow(std::uint8_t c, ThreadCache* cache) noexcept;
  [[gnu::noinline]] void release_slow(std::byte* block, std::uint8_t c,
                                      ThreadCache* cache) noexcept;

  // --- thread caches ---------------------------------------------------------
  ThreadCache* local_cache() noexcept {
    if (t_last_id == id) return t_last_cache;
    return local_cache_slow();
  }

  [[gnu::noinline]] ThreadCache* local_cache_slow() noexcept {
    if (t_exited) return nullptr;
    auto& list = thread_cache_list();
    // Prune caches of destroyed pools; find ours.
    ThreadCache* found = nullptr;
    for (std::size_t i = 0; i < list.entries.size();) {
      auto& e = list.entries[i];
      if (e.pool_id == id) {
        found = e.cache;
        ++i;
      } else if (e.cache->orphaned.load(std::memory_order_acquire)) {
        if (t_last_cache == e.cache) {
          t_last_id = 0;
          t_last_cache = nullptr;
        }
        delete e.cache;
        e = list.entries.back();
        list.entries.pop_back();
      } else {
        ++i;
      }
    }
    if (found == nullptr) {
      try {
        auto cache = std::make_unique<ThreadCache>(cache_bounds);
        list.entries.reserve(list.entries.size() + 1);
        {
          std::lock_guard lock(registry_mutex());
          caches.push_back(cache.get());
        }
        list.entries.push_back({id, this, cache.get()});
        found = cache.release();
      } catch (...) {
        return nullptr;  // no cache: this thread uses the depot directly
      }
    }
    t_last_id = id;
    t_last_cache = found;
    return found;
  }

  // Under the registry mutex: a thread exits while this pool lives.
  void absorb_exiting_cache(ThreadCache* cache) noexcept {
    for (std::uint8_t c = 0; c < kNumClasses; ++c) {
      auto& s = cache->slots[c];
      if (s.count) depot_put(c, s.blocks, s.count);
      s.count = 0;
      counters[c].allocs.fetch_add(cache->allocs[c].get(), std::memory_order_relaxed);
      counters[c].frees.fetch_add(cache->frees[c].get(), std::memory_order_relaxed);
    }
    caches.erase(std::remove(caches.begin(), caches.end(), cache), caches.end());
  }

  // Moves the calling thread's free blocks to the depot (for trim()).
  void flush_local_cache() noexcept {
    ThreadCache* cache = local_cache();
    if (cache == nullptr) return;
    for (std::uint8_t c = 0; c < kNumClasses; ++c) {
      auto& s = cache->slots[c];
      if (s.count) depot_put(c, s.blocks, s.count);
      s.count = 0;
    }
  }

  // Frees room for `bytes` by giving free blocks of other classes back to the
  // system: the calling thread's cache first, then the depots.
  void make_room(std::uint8_t except, std::size_t bytes) noexcept {
    ThreadCache* cache = local_cache();
    std::size_t freed = 0;
    for (std::uint8_t c = 0; c < kNumClasses && freed < bytes; ++c) {
      if (c == except) continue;
      if (cache != nullptr) {
        auto& s = cache->slots[c];
        while (s.count > 0 && freed < bytes) {
          block_to_system(s.blocks[--s.count], c);
          freed += kClassSizes[c];
        }
      }
      if (freed < bytes) freed += depot_trim(c, 0, bytes - freed);
    }
  }

  const PoolOptions options;
  const std::uint64_t id = g_next_pool_id.fetch_add(1, std::memory_order_relaxed);
  std::array<std::uint32_t, kNumClasses> cache_bounds{};
  std::atomic<std::size_t> limit;
  std::atomic<std::size_t> held{0};
  std::atomic<std::uint64_t> double_frees{0};
  std::atomic<std::uint64_t> too_large{0};
  std::array<Depot, kNumClasses> depots;
  std::array<ClassCounters, kNumClasses> counters;
  std::vector<ThreadCache*> caches;  // guarded by registry_mutex()
};

struct BufferPool::Impl : PoolCore {
  using PoolCore::PoolCore;
};

namespace {

ThreadCacheList::~ThreadCacheList() {
  t_exited = true;
  t_last_id = 0;
  t_last_cache = nullptr;
  std::lock_guard lock(registry_mutex());
  for (auto& e : entries) {
    if (!e.cache->orphaned.load(std::memory_order_relaxed)) e.pool->absorb_exiting_cache(e.cache);
    delete e.cache;
  }
  entries.clear();
}

}  // namespace

BufferPool::BufferPool(PoolOptions options) : impl_(std::make_unique<Impl>(options)) {
  for (std::uint8_t c = 0; c < kNumClasses; ++c) {
    for (std::size_t i = 0; i < options.prealloc[c]; ++i) {
      std::byte* b = impl_->block_from_system(c);
      if (b == nullptr) {
        SLUICE_LOG(kWarn, "buffer pool: preallocation of class %zu stopped at %zu blocks (limit)",
                   kClassSizes[c], i);
        break;
      }
      impl_->debug_track(b, true);
      SLUICE_POISON(b, kClassSizes[c]);
      impl_->depot_put(c, &b, 1);
    }
  }
}

BufferPool::~BufferPool() {
  Impl& p = *impl_;
  {
    std::lock_guard lock(registry_mutex());
    for (ThreadCache* cache : p.caches) {
      for (std::uint8_t c = 0; c < kNumClasses; ++c) {
        auto& s = cache->slots[c];
        for (std::uint32_t i = 0; i < s.count; ++i) p.block_to_system(s.blocks[i], c);
        s.count = 0;
      }
      cache->orphaned.store(true, std::memory_order_release);
    }
    p.caches.clear();
  }
  for (std::uint8_t c = 0; c < kNumClasses; ++c) p.depot_trim(c, 0, 0);
}

BufferPool& BufferPool::global() {
  // Leaked on purpose: IoBufs and thread exits may outlive static destruction.
  static auto* pool = new BufferPool();
  return *pool;
}

namespace {

// class_for() for sizes known to be <= 8M, without its loop: classes grow by
// 4x from 2^12 to 2^22, then 8M.
inline std::uint8_t class_index(std::size_t bytes) noexcept {
  if (bytes <= kClassSizes[0]) return 0;
  const auto width = static_cast<unsigned>(std::bit_width(bytes - 1));  // 13..23
  return static_cast<std::uint8_t>(width <= 22 ? (width - 11) / 2 : 6);
}

}  // namespace

// The slow path of allocate(): refill from the depot, or from the system,
// making room under the limit if needed. nullptr when refused.
std::byte* PoolCore::allocate_slow(std::uint8_t c, ThreadCache* cache) noexcept {
  std::byte* b = nullptr;
  if (cache != nullptr && cache->slots[c].bound != 0) {
    auto& s = cache->slots[c];
    s.count = static_cast<std::uint32_t>(depot_take(c, s.blocks, (s.bound + 1) / 2));
    if (s.count != 0) b = s.blocks[--s.count];
  } else {
    depot_take(c, &b, 1);  // no cache, or a class too large to cache per thread
  }
  if (b != nullptr) {
    debug_mark_used(b);
  } else {
    b = block_from_system(c);
    if (b == nullptr) {
      make_room(c, kClassSizes[c]);
      b = block_from_system(c);
    }
    if (b == nullptr) {
      counters[c].failures.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
  }
  SLUICE_UNPOISON(b, kClassSizes[c]);
  if (cache != nullptr)
    cache->allocs[c].inc();
  else
    counters[c].allocs.fetch_add(1, std::memory_order_relaxed);
  return b;
}

void PoolCore::release_slow(std::byte* block, std::uint8_t c, ThreadCache* cache) noexcept {
  if (cache == nullptr || cache->slots[c].bound == 0) {
    depot_put(c, &block, 1);
    if (cache != nullptr)
      cache->frees[c].inc();
    else
      counters[c].frees.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  // A full cache: spill the older half, keep the recently used (warm) blocks.
  auto& s = cache->slots[c];
  const std::uint32_t half = (s.bound + 1) / 2;
  depot_put(c, s.blocks, half);
  std::memmove(s.blocks, s.blocks + half, (s.count - half) * sizeof(std::byte*));
  s.count -= half;
  s.blocks[s.count++] = block;
  cache->frees[c].inc();
}

Result<IoBuf> BufferPool::allocate(std::size_t min_capacity) {
  if (min_capacity > kMaxBlockSize) [[unlikely]] {
    impl_->too_large.fetch_add(1, std::memory_order_relaxed);
    return Errc::kTooLarge;
  }
  const std::uint8_t c = class_index(min_capacity);
  const auto capacity = static_cast<std::uint32_t>(kClassSizes[c]);
  Impl& p = *impl_;
  ThreadCache* cache = p.local_cache();
  if (cache != nullptr) [[likely]] {
    auto& s = cache->slots[c];
    if (s.count != 0) [[likely]] {
      std::byte* b = s.blocks[--s.count];
      p.debug_mark_used(b);
      SLUICE_UNPOISON(b, capacity);
      cache->allocs[c].inc();
      return IoBuf(this, b, capacity, c);
    }
  }
  std::byte* b = p.allocate_slow(c, cache);
  if (b == nullptr) return Errc::kPoolLimit;
  return IoBuf(this, b, capacity, c);
}

void BufferPool::release(std::byte* block, std::uint8_t size_class) noexcept {
  if (block == nullptr || size_class >= kNumClasses) [[unlikely]]
    return;
  Impl& p = *impl_;
  const std::uint8_t c = size_class;
  if (!p.debug_mark_free(block)) [[unlikely]] {
    p.double_frees.fetch_add(1, std::memory_order_relaxed);
    SLUICE_LOG_EVERY_MS(kError, 1000,
                        "buffer pool: block %p of class %zu released twice (or not ours)",
                        static_cast<void*>(block), kClassSizes[c]);
    return;
  }
  SLUICE_POISON(block, kClassSizes[c]);
  ThreadCache* cache = p.local_cache();
  if (cache != nullptr) [[likely]] {
    auto& s = cache->slots[c];
    if (s.count < s.bound) [[likely]] {
      s.blocks[s.count++] = block;
      cache->frees[c].inc();
      return;
    }
  }
  p.release_slow(block, c, cache);
}

std::size_t BufferPool::trim() {
  Impl& p = *impl_;
  p.flush_local_cache();
  std::size_t freed = 0;
  for (std::uint8_t c = 0; c < kNumClasses; ++c)
    freed += p.depot_trim(c, p.options.trim_keep[c], 0);
  return freed;
}

void BufferPool::set_limit(std::size_t limit_bytes) noexcept {
  impl_->limit.store(limit_bytes, std::memory_order_relaxed);
}

std::size_t BufferPool::held_bytes() const noexcept {
  return impl_->held.load(std::memory_order_relaxed);
}

PoolStats BufferPool::stats() const {
  const Impl& p = *impl_;
  PoolStats s;
  std::array<std::uint64_t, kNumClasses> allocs{}, frees{};
  {
    std::lock_guard lock(registry_mutex());
    for (const ThreadCache* cache : p.caches) {
      for (std::size_t c = 0; c < kNumClasses; ++c) {
        allocs[c] += cache->allocs[c].get();
        frees[c] += cache->frees[c].get();
      }
    }
  }
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const auto& k = p.counters[c];
    auto& out = s.classes[c];
    allocs[c] += k.allocs.load(std::memory_order_relaxed);
    frees[c] += k.frees.load(std::memory_order_relaxed);
    out.from_system = k.from_system.load(std::memory_order_relaxed);
    out.to_system = k.to_system.load(std::memory_order_relaxed);
    out.high_water = k.high_water.load(std::memory_order_relaxed);
    out.failures = k.failures.load(std::memory_order_relaxed);
    // Counters are read one by one while other threads run: clamp so a
    // snapshot taken mid-operation never shows a negative figure.
    out.in_use = allocs[c] > frees[c] ? allocs[c] - frees[c] : 0;
    std::uint64_t held_blocks =
        out.from_system > out.to_system ? out.from_system - out.to_system : 0;
    out.free = held_blocks > out.in_use ? held_blocks - out.in_use : 0;
  }
  s.held_bytes = p.held.load(std::memory_order_relaxed);
  s.limit_bytes = p.limit.load(std::memory_order_relaxed);
  s.double_frees = p.double_frees.load(std::memory_order_relaxed);
  s.too_large = p.too_large.load(std::memory_order_relaxed);
  return s;
}

}  // namespace sluice::mem
