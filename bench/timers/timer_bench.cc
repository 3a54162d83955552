// TimerWheel against the two classic timer queues: an ordered tree
// (std::set, as muduo keeps its timers) and a binary heap (std::priority_queue
// with lazy deletion: a refresh pushes a new item and the stale one is skipped
// when popped; the heap is rebuilt when stale items outnumber live ones).
//
// Three operations, at 10K and 1M timers:
//   schedule - add N timers with random deadlines in the next minute;
//   refresh  - move a random existing timer to now + 30 s, as an idle
//              timeout does on every request (the clock moves 1 ms every
//              64 refreshes);
//   expire   - let N timers spread over a minute fire, the clock stepping
//              10 ms at a time as a loop's wake-ups would.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "sluice/loop/timer_wheel.h"

namespace {

constexpr std::int64_t kMinute = 60'000;
constexpr std::int64_t kIdleTimeout = 30'000;

std::vector<std::int64_t> random_deadlines(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::int64_t> out(n);
  for (auto& d : out) d = static_cast<std::int64_t>(rng() % kMinute) + 1;
  return out;
}

std::vector<std::uint32_t> random_indices(std::size_t n) {
  std::mt19937_64 rng(99);
  std::vector<std::uint32_t> out(1 << 20);
  for (auto& i : out) i = static_cast<std::uint32_t>(rng() % n);
  return out;
}

// --- the wheel -------------------------------------------------------------

struct WheelQueue {
  struct Timer : sluice::TimerEntry {
    void on_timer() override { ++*fired; }
    std::size_t* fired = nullptr;
  };

  explicit WheelQueue(std::size_t n) : timers(n) {
    for (auto& t : timers) t.fired = &fired;
  }
  void schedule(std::size_t i, std::int64_t deadline) { wheel.schedule_at(timers[i], deadline); }
  void refresh(std::size_t i, std::int64_t deadline) { wheel.schedule_at(timers[i], deadline); }
  void expire(std::int64_t now) { wheel.advance(now); }

  sluice::TimerWheel wheel{0};
  std::size_t fired = 0;
  std::vector<Timer> timers;
};

// --- an ordered tree (muduo: std::set<pair<Timestamp, Timer*>>) --------------

struct SetQueue {
  struct Timer {
    std::int64_t deadline = 0;
  };
  using Key = std::pair<std::int64_t, Timer*>;

  explicit SetQueue(std::size_t n) : timers(n) {}
  void schedule(std::size_t i, std::int64_t deadline) {
    timers[i].deadline = deadline;
    set.emplace(deadline, &timers[i]);
  }
  void refresh(std::size_t i, std::int64_t deadline) {
    Timer& t = timers[i];
    auto node = set.extract(Key{t.deadline, &t});  // reuses the node: no allocation
    t.deadline = deadline;
    node.value() = Key{deadline, &t};
    set.insert(std::move(node));
  }
  void expire(std::int64_t now) {
    while (!set.empty() && set.begin()->first <= now) {
      set.erase(set.begin());
      ++fired;
    }
  }

  std::set<Key> set;
  std::size_t fired = 0;
  std::vector<Timer> timers;
};

// --- a binary heap with lazy deletion -----------------------------------------

struct HeapQueue {
  struct Timer {
    std::int64_t deadline = 0;
    std::uint32_t generation = 0;
    bool active = false;
  };
  struct Item {
    std::int64_t deadline;
    std::uint32_t generation;
    std::uint32_t index;
    bool operator>(const Item& o) const { return deadline > o.deadline; }
  };

  explicit HeapQueue(std::size_t n) : timers(n) {}
  void schedule(std::size_t i, std::int64_t deadline) {
    Timer& t = timers[i];
    t.deadline = deadline;
    t.active = true;
    ++t.generation;
    heap.push(Item{deadline, t.generation, static_cast<std::uint32_t>(i)});
  }
  void refresh(std::size_t i, std::int64_t deadline) {
    schedule(i, deadline);
    if (heap.size() > 2 * timers.size() + 1024) compact();
  }
  void expire(std::int64_t now) {
    while (!heap.empty() && heap.top().deadline <= now) {
      const Item item = heap.top();
      heap.pop();
      Timer& t = timers[item.index];
      if (!t.active || t.generation != item.generation) continue;  // stale
      t.active = false;
      ++fired;
    }
  }
  void compact() {
    std::vector<Item> live;
    live.reserve(timers.size());
    for (std::size_t i = 0; i < timers.size(); ++i) {
      if (timers[i].active) {
        live.push_back(
            Item{timers[i].deadline, timers[i].generation, static_cast<std::uint32_t>(i)});
      }
    }
    heap = Heap(std::greater<>{}, std::move(live));
  }

  using Heap = std::priority_queue<Item, std::vector<Item>, std::greater<>>;
  Heap heap;
  std::size_t fired = 0;
  std::vector<Timer> timers;
};

// --- the benchmarks ------------------------------------------------------------

template <class Queue>
void BM_Schedule(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = random_deadlines(n, 1);
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<Queue>(n);
    state.ResumeTiming();
    for (std::size_t i = 0; i < n; ++i) q->schedule(i, deadlines[i]);
    benchmark::ClobberMemory();
    state.PauseTiming();
    q.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

template <class Queue>
void BM_Refresh(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = random_deadlines(n, 2);
  const auto indices = random_indices(n);
  Queue q(n);
  for (std::size_t i = 0; i < n; ++i) q.schedule(i, deadlines[i]);
  std::uint64_t step = 0;
  for (auto _ : state) {
    const std::int64_t now = static_cast<std::int64_t>(step >> 6);
    q.refresh(indices[step & (indices.size() - 1)], now + kIdleTimeout);
    ++step;
  }
  benchmark::DoNotOptimize(q.fired);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}

template <class Queue>
void BM_Expire(benchmark::State& state) {
  const auto n = static_cast<std::size_t>(state.range(0));
  const auto deadlines = random_deadlines(n, 3);
  for (auto _ : state) {
    state.PauseTiming();
    auto q = std::make_unique<Queue>(n);
    for (std::size_t i = 0; i < n; ++i) q->schedule(i, deadlines[i]);
    state.ResumeTiming();
    for (std::int64_t now = 10; now <= kMinute; now += 10) q->expire(now);
    if (q->fired != n) state.SkipWithError("not every timer fired");
    state.PauseTiming();
    q.reset();
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

#define SLUICE_TIMER_BENCH(op, unit)                                           \
  BENCHMARK_TEMPLATE(op, WheelQueue)->Arg(10'000)->Arg(1'000'000)->Unit(unit); \
  BENCHMARK_TEMPLATE(op, SetQueue)->Arg(10'000)->Arg(1'000'000)->Unit(unit);   \
  BENCHMARK_TEMPLATE(op, HeapQueue)->Arg(10'000)->Arg(1'000'000)->Unit(unit)

SLUICE_TIMER_BENCH(BM_Schedule, benchmark::kMicrosecond);
SLUICE_TIMER_BENCH(BM_Refresh, benchmark::kNanosecond);
SLUICE_TIMER_BENCH(BM_Expire, benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
