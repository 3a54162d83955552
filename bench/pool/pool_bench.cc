// BufferPool allocate+release against the process's malloc/free, per size
// class, on one and two threads. Built three times: with glibc malloc, with
// jemalloc and with mimalloc replacing malloc (see CMakeLists.txt).
//
// Every block gets one byte written after allocation, as a reader would, so
// an allocator that hands out fresh pages pays the page fault it causes.
// Two patterns: "single" (allocate, touch, release: the allocator's best case)
// and "batch" (allocate up to 32 blocks, touch each, release all: many
// connections holding a block at once). Figures are per allocate+release pair.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "sluice/mem/buffer_pool.h"

#if defined(SLUICE_BENCH_MALLOC_JEMALLOC)
#include <jemalloc/jemalloc.h>
#define SLUICE_MALLOC_NAME "jemalloc"
#elif defined(SLUICE_BENCH_MALLOC_MIMALLOC)
#include <mimalloc.h>
#define SLUICE_MALLOC_NAME "mimalloc"
#else
#define SLUICE_MALLOC_NAME "glibc"
#endif

namespace {

using sluice::mem::BufferPool;
using sluice::mem::IoBuf;
using sluice::mem::kClassSizes;

constexpr std::size_t kMaxBatch = 32;
// A batch holds at most this much per thread (8M blocks: 8 at once).
constexpr std::size_t kBatchBytes = std::size_t{64} << 20;

std::size_t batch_for(std::size_t size) {
  return std::clamp<std::size_t>(kBatchBytes / size, 1, kMaxBatch);
}

void touch(void* p) { *static_cast<volatile char*>(p) = 1; }

BufferPool& bench_pool() {
  static BufferPool pool;  // shared by the benchmark's threads
  return pool;
}

void pool_single(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  BufferPool& pool = bench_pool();
  for (auto _ : state) {
    auto b = pool.allocate(size);
    if (!b.ok()) {
      state.SkipWithError("pool refused");
      break;
    }
    touch(b->data());
    benchmark::DoNotOptimize(b->data());
  }
  state.SetItemsProcessed(state.iterations());
}

void malloc_single(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void* p = std::malloc(size);
    if (p == nullptr) {
      state.SkipWithError("malloc failed");
      break;
    }
    touch(p);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

void pool_batch(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t n = batch_for(size);
  BufferPool& pool = bench_pool();
  std::array<IoBuf, kMaxBatch> bufs;
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      auto b = pool.allocate(size);
      if (!b.ok()) {
        state.SkipWithError("pool refused");
        return;
      }
      bufs[i] = std::move(b.value());
      touch(bufs[i].data());
    }
    benchmark::ClobberMemory();
    for (std::size_t i = 0; i < n; ++i) bufs[i].reset();
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

void malloc_batch(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::size_t n = batch_for(size);
  std::array<void*, kMaxBatch> ptrs{};
  for (auto _ : state) {
    for (std::size_t i = 0; i < n; ++i) {
      ptrs[i] = std::malloc(size);
      if (ptrs[i] == nullptr) {
        state.SkipWithError("malloc failed");
        return;
      }
      touch(ptrs[i]);
    }
    benchmark::ClobberMemory();
    for (std::size_t i = 0; i < n; ++i) std::free(ptrs[i]);
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(n));
}

// Proves that malloc really is the allocator this binary is named after.
bool malloc_is_expected() {
#if defined(SLUICE_BENCH_MALLOC_MIMALLOC)
  void* p = std::malloc(1000);
  bool ok = mi_is_in_heap_region(p);
  std::free(p);
  return ok;
#elif defined(SLUICE_BENCH_MALLOC_JEMALLOC)
  std::uint64_t epoch = 1;
  std::size_t len = sizeof epoch;
  mallctl("epoch", &epoch, &len, &epoch, len);
  std::uint64_t* allocated = nullptr;
  len = sizeof allocated;
  if (mallctl("thread.allocatedp", &allocated, &len, nullptr, 0) != 0) return false;
  const std::uint64_t before = *allocated;
  void* p = std::malloc(1000);
  benchmark::DoNotOptimize(p);
  const bool ok = *allocated > before;
  std::free(p);
  return ok;
#else
  return true;
#endif
}

void register_all() {
  const std::string m = "malloc_" SLUICE_MALLOC_NAME;
  struct Kind {
    std::string name;
    void (*fn)(benchmark::State&);
  };
  const Kind kinds[] = {{"pool/single", pool_single},
                        {m + "/single", malloc_single},
                        {"pool/batch", pool_batch},
                        {m + "/batch", malloc_batch}};
  for (const Kind& k : kinds) {
    for (std::size_t size : kClassSizes) {
      for (int threads : {1, 2}) {
        benchmark::RegisterBenchmark(k.name.c_str(), k.fn)
            ->Arg(static_cast<std::int64_t>(size))
            ->Threads(threads)
            ->MinTime(0.3);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!malloc_is_expected()) {
    std::fprintf(stderr, "malloc is not %s in this binary\n", SLUICE_MALLOC_NAME);
    return 1;
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  register_all();
  benchmark::AddCustomContext("malloc", SLUICE_MALLOC_NAME);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
