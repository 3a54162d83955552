#include "sluice/mem/buffer_pool.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace sluice::mem {
namespace {

constexpr std::size_t K = 1024;
constexpr std::size_t M = 1024 * 1024;

std::uint64_t total_in_use(const PoolStats& s) {
  std::uint64_t n = 0;
  for (const auto& c : s.classes) n += c.in_use;
  return n;
}

std::size_t free_bytes(const PoolStats& s) {
  std::size_t n = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) n += s.classes[c].free * kClassSizes[c];
  return n;
}

TEST(BufferPool, EveryClassBoundaryMapsToTheSmallestClassThatFits) {
  BufferPool pool;
  struct Case {
    std::size_t request;
    std::size_t capacity;
  };
  const Case cases[] = {
      {0, 4 * K},           {1, 4 * K},           {4095, 4 * K},         {4096, 4 * K},
      {4097, 16 * K},       {16 * K - 1, 16 * K}, {16 * K, 16 * K},      {16 * K + 1, 64 * K},
      {64 * K - 1, 64 * K}, {64 * K, 64 * K},     {64 * K + 1, 256 * K}, {256 * K - 1, 256 * K},
      {256 * K, 256 * K},   {256 * K + 1, 1 * M}, {1 * M - 1, 1 * M},    {1 * M, 1 * M},
      {1 * M + 1, 4 * M},   {4 * M - 1, 4 * M},   {4 * M, 4 * M},        {4 * M + 1, 8 * M},
      {8 * M - 1, 8 * M},   {8 * M, 8 * M},
  };
  for (const Case& c : cases) {
    auto buf = pool.allocate(c.request);
    ASSERT_TRUE(buf.ok()) << c.request;
    EXPECT_EQ(buf->capacity(), c.capacity) << "request " << c.request;
    EXPECT_EQ(kClassSizes[buf->size_class()], c.capacity) << "request " << c.request;
    EXPECT_EQ(buf->size(), 0u);
    EXPECT_EQ(buf->tailroom(), c.capacity);
    // The whole block is writable (ASan checks the unpoisoning).
    std::memset(buf->tail(), 0x5a, buf->capacity());
  }
  EXPECT_EQ(total_in_use(pool.stats()), 0u);
}

TEST(BufferPool, AboveTheLargestClassIsTooLarge) {
  BufferPool pool;
  auto buf = pool.allocate(8 * M + 1);
  ASSERT_FALSE(buf.ok());
  EXPECT_EQ(buf.error(), make_error_code(Errc::kTooLarge));
  EXPECT_EQ(pool.stats().too_large, 1u);
  EXPECT_EQ(pool.held_bytes(), 0u);
}

TEST(BufferPool, ClassForIsConstexpr) {
  static_assert(class_for(0) == 0);
  static_assert(class_for(4 * K) == 0);
  static_assert(class_for(4 * K + 1) == 1);
  static_assert(class_for(8 * M) == 6);
  static_assert(!class_for(8 * M + 1).has_value());
  SUCCEED();
}

TEST(BufferPool, LimitRefusesWithPoolLimitThenSucceedsAfterARelease) {
  PoolOptions o;
  o.limit_bytes = 4 * 16 * K;
  BufferPool pool(o);
  std::vector<IoBuf> held;
  for (int i = 0; i < 4; ++i) {
    auto b = pool.allocate(16 * K);
    ASSERT_TRUE(b.ok()) << i;
    held.push_back(std::move(b.value()));
  }
  auto refused = pool.allocate(16 * K);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error(), make_error_code(Errc::kPoolLimit));
  EXPECT_LE(pool.held_bytes(), o.limit_bytes);
  EXPECT_EQ(pool.stats().classes[1].failures, 1u);

  held.pop_back();  // one block back: it is already counted, so it is reused
  auto again = pool.allocate(16 * K);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(pool.stats().classes[1].from_system, 4u);
  EXPECT_EQ(pool.held_bytes(), o.limit_bytes);
}

TEST(BufferPool, LimitGivesFreeBlocksOfOtherClassesBackToMakeRoom) {
  PoolOptions o;
  o.limit_bytes = 64 * K;
  BufferPool pool(o);
  {
    std::vector<IoBuf> small;
    for (int i = 0; i < 16; ++i) small.push_back(std::move(pool.allocate(4 * K).value()));
    EXPECT_EQ(pool.held_bytes(), 64 * K);
    EXPECT_FALSE(pool.allocate(4 * K).ok());
  }  // 16 free 4K blocks fill the limit
  EXPECT_EQ(pool.stats().classes[0].free, 16u);
  auto big = pool.allocate(64 * K);
  ASSERT_TRUE(big.ok());
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[0].to_system, 16u);
  EXPECT_EQ(s.classes[0].free, 0u);
  EXPECT_EQ(s.held_bytes, 64 * K);
}

TEST(BufferPool, RaisingTheLimitAtRunTimeAllowsMore) {
  PoolOptions o;
  o.limit_bytes = 16 * K;
  BufferPool pool(o);
  auto a = pool.allocate(16 * K);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(pool.allocate(16 * K).ok());
  pool.set_limit(32 * K);
  EXPECT_TRUE(pool.allocate(16 * K).ok());
  pool.set_limit(0);  // no limit
  EXPECT_TRUE(pool.allocate(1 * M).ok());
  EXPECT_EQ(pool.stats().limit_bytes, 0u);
}

TEST(BufferPool, TrimGivesFreeBlocksBackAndLowersHeld) {
  BufferPool pool;
  {
    std::vector<IoBuf> bufs;
    for (int i = 0; i < 10; ++i) bufs.push_back(std::move(pool.allocate(64 * K).value()));
    bufs.push_back(std::move(pool.allocate(1 * M).value()));
  }
  EXPECT_EQ(pool.held_bytes(), 10 * 64 * K + 1 * M);
  EXPECT_EQ(pool.trim(), 10 * 64 * K + 1 * M);
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.held_bytes, 0u);
  EXPECT_EQ(s.classes[2].to_system, 10u);
  EXPECT_EQ(s.classes[4].to_system, 1u);
  EXPECT_EQ(s.classes[2].free, 0u);
  EXPECT_EQ(s.classes[2].high_water, 10u);
  EXPECT_EQ(pool.trim(), 0u);
}

TEST(BufferPool, TrimKeepsTrimKeepBlocksPerClass) {
  PoolOptions o;
  o.trim_keep[0] = 3;
  BufferPool pool(o);
  {
    std::vector<IoBuf> bufs;
    for (int i = 0; i < 8; ++i) bufs.push_back(std::move(pool.allocate(100).value()));
  }
  EXPECT_EQ(pool.trim(), 5 * 4 * K);
  EXPECT_EQ(pool.held_bytes(), 3 * 4 * K);
  EXPECT_EQ(pool.stats().classes[0].free, 3u);
}

TEST(BufferPool, TrimDoesNotTouchBlocksInUse) {
  BufferPool pool;
  auto a = pool.allocate(100);
  ASSERT_TRUE(a.ok());
  a->append("still here");
  EXPECT_EQ(pool.trim(), 0u);
  EXPECT_EQ(a->view(), "still here");
  EXPECT_EQ(pool.held_bytes(), 4 * K);
}

TEST(BufferPool, PreallocationFillsTheDepotAndIsReused) {
  PoolOptions o;
  o.prealloc[1] = 3;
  o.prealloc[0] = 2;
  BufferPool pool(o);
  PoolStats s = pool.stats();
  EXPECT_EQ(s.held_bytes, 3 * 16 * K + 2 * 4 * K);
  EXPECT_EQ(s.classes[1].free, 3u);
  EXPECT_EQ(s.classes[1].from_system, 3u);
  EXPECT_EQ(s.classes[0].free, 2u);
  std::vector<IoBuf> bufs;
  for (int i = 0; i < 3; ++i) bufs.push_back(std::move(pool.allocate(16 * K).value()));
  s = pool.stats();
  EXPECT_EQ(s.classes[1].from_system, 3u);  // nothing new from the system
  EXPECT_EQ(s.classes[1].in_use, 3u);
  EXPECT_EQ(s.classes[1].free, 0u);
}

TEST(BufferPool, PreallocationStopsAtTheLimit) {
  PoolOptions o;
  o.limit_bytes = 40 * K;
  o.prealloc[1] = 5;  // 80K wanted
  BufferPool pool(o);
  EXPECT_EQ(pool.stats().classes[1].from_system, 2u);
  EXPECT_LE(pool.held_bytes(), 40 * K);
}

TEST(BufferPool, StatsCountInUseFreeAndHighWater) {
  BufferPool pool;
  auto a = std::move(pool.allocate(1).value());
  auto b = std::move(pool.allocate(1).value());
  auto c = std::move(pool.allocate(20 * K).value());
  PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[0].in_use, 2u);
  EXPECT_EQ(s.classes[2].in_use, 1u);
  EXPECT_EQ(s.classes[0].free, 0u);
  EXPECT_EQ(s.held_bytes, 2 * 4 * K + 64 * K);
  b.reset();
  s = pool.stats();
  EXPECT_EQ(s.classes[0].in_use, 1u);
  EXPECT_EQ(s.classes[0].free, 1u);
  EXPECT_EQ(s.classes[0].high_water, 2u);
  EXPECT_EQ(s.classes[0].from_system, 2u);
  EXPECT_EQ(s.classes[0].to_system, 0u);
  EXPECT_EQ(s.double_frees, 0u);
  EXPECT_EQ(s.too_large, 0u);
}

TEST(BufferPool, ReleasedBlockIsReusedWithoutTheSystem) {
  BufferPool pool;
  for (int i = 0; i < 1000; ++i) {
    auto b = pool.allocate(4 * K);
    ASSERT_TRUE(b.ok());
  }
  EXPECT_EQ(pool.stats().classes[0].from_system, 1u);
}

TEST(BufferPool, EveryClassReusesAReleasedBlock) {
  BufferPool pool;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (int i = 0; i < 3; ++i) {
      auto b = pool.allocate(kClassSizes[c]);
      ASSERT_TRUE(b.ok());
    }
    EXPECT_EQ(pool.stats().classes[c].from_system, 1u) << "class " << kClassSizes[c];
  }
}

TEST(BufferPool, ManyBlocksSpillToTheDepotAndComeBack) {
  PoolOptions o;
  o.thread_cache_blocks = 4;
  BufferPool pool(o);
  std::vector<IoBuf> bufs;
  for (int i = 0; i < 100; ++i) bufs.push_back(std::move(pool.allocate(4 * K).value()));
  bufs.clear();
  PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[0].free, 100u);
  for (int i = 0; i < 100; ++i) bufs.push_back(std::move(pool.allocate(4 * K).value()));
  s = pool.stats();
  EXPECT_EQ(s.classes[0].from_system, 100u);
  EXPECT_EQ(s.classes[0].in_use, 100u);
}

TEST(BufferPool, BlockReleasedOnAnotherThreadReturnsToThePool) {
  BufferPool pool;
  std::vector<IoBuf> bufs;
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) {
      auto b = pool.allocate(16 * K);
      ASSERT_TRUE(b.ok());
      b->append("x");
      bufs.push_back(std::move(b.value()));
    }
  });
  producer.join();
  PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[1].in_use, 10u);
  std::thread consumer([&] { bufs.clear(); });
  consumer.join();
  s = pool.stats();
  EXPECT_EQ(s.classes[1].in_use, 0u);
  EXPECT_EQ(s.classes[1].free, 10u);
  EXPECT_EQ(s.held_bytes, 10 * 16 * K);
  // Reuse: the blocks are back in the depot (both threads exited).
  for (int i = 0; i < 10; ++i) bufs.push_back(std::move(pool.allocate(16 * K).value()));
  EXPECT_EQ(pool.stats().classes[1].from_system, 10u);
}

TEST(BufferPool, ThreadExitGivesItsCacheToTheDepot) {
  BufferPool pool;
  std::thread t([&] {
    std::vector<IoBuf> bufs;
    for (int i = 0; i < 20; ++i) bufs.push_back(std::move(pool.allocate(4 * K).value()));
  });
  t.join();
  EXPECT_EQ(pool.stats().classes[0].free, 20u);
  std::vector<IoBuf> bufs;
  for (int i = 0; i < 20; ++i) bufs.push_back(std::move(pool.allocate(4 * K).value()));
  EXPECT_EQ(pool.stats().classes[0].from_system, 20u);
  EXPECT_EQ(pool.trim(), 0u);  // all in use
}

TEST(BufferPool, ManyThreadsHammeringAllocAndReleaseStayConsistent) {
  PoolOptions o;
  o.thread_cache_blocks = 8;  // small caches: the depot is exercised too
  BufferPool pool(o);
  std::mutex mu;
  std::deque<IoBuf> handoff;  // blocks released by another thread
  constexpr int kThreads = 4;
  constexpr int kIters = 20000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<IoBuf> mine;
      for (int i = 0; i < kIters; ++i) {
        const std::size_t size = kClassSizes[rng() % 3] - rng() % 100;
        auto b = pool.allocate(size);
        ASSERT_TRUE(b.ok());
        *b->tail() = std::byte{1};
        b->commit(1);
        mine.push_back(std::move(b.value()));
        if (mine.size() > 16) {
          std::lock_guard lock(mu);
          handoff.push_back(std::move(mine.front()));
          mine.erase(mine.begin());
        }
        if (rng() % 4 == 0) mine.pop_back();
        if (rng() % 8 == 0) {
          std::lock_guard lock(mu);
          if (!handoff.empty()) handoff.pop_front();
        }
        if (i % 5000 == 0) (void)pool.stats();
      }
    });
  }
  for (auto& th : threads) th.join();
  handoff.clear();
  const PoolStats s = pool.stats();
  EXPECT_EQ(total_in_use(s), 0u);
  EXPECT_EQ(free_bytes(s), s.held_bytes);
  pool.trim();
  EXPECT_EQ(pool.held_bytes(), 0u);
}

TEST(BufferPool, HeldNeverExceedsTheLimitUnderContention) {
  PoolOptions o;
  o.limit_bytes = 256 * K;
  BufferPool pool(o);
  std::atomic<bool> over{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t + 10));
      std::vector<IoBuf> mine;
      for (int i = 0; i < 5000; ++i) {
        auto b = pool.allocate(kClassSizes[rng() % 3]);
        if (b.ok()) mine.push_back(std::move(b.value()));
        if (pool.held_bytes() > o.limit_bytes) over = true;
        if (mine.size() > 3 || (!b.ok() && !mine.empty())) mine.erase(mine.begin());
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_FALSE(over.load());
  EXPECT_LE(pool.held_bytes(), o.limit_bytes);
  EXPECT_EQ(total_in_use(pool.stats()), 0u);
}

TEST(BufferPool, PoolDestroyedAfterAWorkerWithANonEmptyCacheExited) {
  auto pool = std::make_unique<BufferPool>();
  std::thread t([&] {
    std::vector<IoBuf> bufs;
    for (int i = 0; i < 5; ++i) bufs.push_back(std::move(pool->allocate(4 * K).value()));
  });
  t.join();
  EXPECT_EQ(pool->stats().classes[0].free, 5u);
  pool.reset();     // ASan/LSan and TSan watch this
  BufferPool next;  // a new pool works after the old one is gone
  EXPECT_TRUE(next.allocate(1).ok());
}

TEST(BufferPool, PoolDestroyedWhileAThreadWithACacheIsStillAlive) {
  auto pool = std::make_unique<BufferPool>();
  std::mutex mu;
  std::condition_variable cv;
  int stage = 0;
  bool worker_ok = false;
  std::thread t([&] {
    {
      std::vector<IoBuf> bufs;
      for (int i = 0; i < 5; ++i) bufs.push_back(std::move(pool->allocate(16 * K).value()));
    }  // five blocks now sit in this thread's cache
    {
      std::unique_lock lock(mu);
      stage = 1;
      cv.notify_all();
      cv.wait(lock, [&] { return stage == 2; });
    }
    // The old pool is gone; this thread's stale cache must not be used, and
    // new pools must work on this thread.
    BufferPool fresh;
    auto b = fresh.allocate(16 * K);
    worker_ok = b.ok() && fresh.stats().classes[1].from_system == 1;
  });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return stage == 1; });
  }
  EXPECT_EQ(pool->stats().classes[1].free, 5u);
  pool.reset();
  {
    std::lock_guard lock(mu);
    stage = 2;
    cv.notify_all();
  }
  t.join();
  EXPECT_TRUE(worker_ok);
}

TEST(BufferPool, SeveralPoolsOnOneThreadKeepSeparateAccounts) {
  BufferPool a, b;
  auto x = a.allocate(1);
  auto y = b.allocate(20 * K);
  ASSERT_TRUE(x.ok() && y.ok());
  EXPECT_EQ(a.stats().classes[0].in_use, 1u);
  EXPECT_EQ(a.stats().classes[2].in_use, 0u);
  EXPECT_EQ(b.stats().classes[2].in_use, 1u);
  EXPECT_EQ(b.stats().classes[0].in_use, 0u);
  x->reset();
  y->reset();
  EXPECT_EQ(a.held_bytes(), 4 * K);
  EXPECT_EQ(b.held_bytes(), 64 * K);
  EXPECT_EQ(a.trim(), 4 * K);
  EXPECT_EQ(b.trim(), 64 * K);
}

TEST(BufferPool, ManyShortLivedPoolsOnOneThread) {
  for (int i = 0; i < 200; ++i) {
    BufferPool pool;
    auto b = pool.allocate(100);
    ASSERT_TRUE(b.ok());
  }
  SUCCEED();
}

TEST(BufferPool, GlobalPoolIsOneProcessWideInstance) {
  BufferPool& g = BufferPool::global();
  EXPECT_EQ(&g, &BufferPool::global());
  auto b = g.allocate(10);
  ASSERT_TRUE(b.ok());
  EXPECT_GE(g.held_bytes(), 4 * K);
}

TEST(BufferPool, DoubleReleaseIsDetectedAndIgnoredInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "double-release detection is a debug-build feature";
#else
  BufferPool pool;
  auto b = pool.allocate(100);
  ASSERT_TRUE(b.ok());
  std::byte* block = b->data();
  const std::uint8_t cls = b->size_class();
  b->reset();
  pool.release(block, cls);  // the second release of the same block
  PoolStats s = pool.stats();
  EXPECT_EQ(s.double_frees, 1u);
  EXPECT_EQ(s.classes[0].in_use, 0u);
  EXPECT_EQ(s.classes[0].free, 1u);
  // The block is handed out once, not twice.
  auto first = pool.allocate(100);
  auto second = pool.allocate(100);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->data(), second->data());
#endif
}

}  // namespace
}  // namespace sluice::mem
