#include "status.h"

#include <sys/mman.h>

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <new>

namespace sluice::app {

namespace {

[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list args;
  va_start(args, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, args);
  va_end(args);
  if (n > 0) out.append(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

}  // namespace

PoolBoard* PoolBoard::create() noexcept {
  void* p =
      ::mmap(nullptr, sizeof(PoolBoard), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return new (p) PoolBoard();
}

void PoolBoard::destroy(PoolBoard* board) noexcept {
  if (!board) return;
  board->~PoolBoard();
  ::munmap(board, sizeof(PoolBoard));
}

void PoolBoard::publish(std::size_t slot, std::int64_t pid, const mem::PoolStats& s) noexcept {
  if (slot >= slots_.size()) return;
  Slot& d = slots_[slot];
  constexpr auto r = std::memory_order_relaxed;
  d.held_bytes.store(s.held_bytes, r);
  d.limit_bytes.store(s.limit_bytes, r);
  for (std::size_t c = 0; c < mem::kNumClasses; ++c) {
    const mem::ClassStats& cs = s.classes[c];
    d.classes[c][0].store(cs.in_use, r);
    d.classes[c][1].store(cs.free, r);
    d.classes[c][2].store(cs.from_system, r);
    d.classes[c][3].store(cs.to_system, r);
    d.classes[c][4].store(cs.high_water, r);
    d.classes[c][5].store(cs.failures, r);
  }
  d.pid.store(pid, r);
}

mem::PoolStats PoolBoard::total(const proc::SharedStats& stats) const noexcept {
  mem::PoolStats t;
  constexpr auto r = std::memory_order_relaxed;
  auto& shared = const_cast<proc::SharedStats&>(stats);  // slot() has no const overload
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    const Slot& s = slots_[i];
    std::int64_t pid = s.pid.load(r);
    if (pid == 0 || shared.slot(i).pid.load(r) != pid) continue;
    t.held_bytes += s.held_bytes.load(r);
    t.limit_bytes += s.limit_bytes.load(r);
    for (std::size_t c = 0; c < mem::kNumClasses; ++c) {
      mem::ClassStats& cs = t.classes[c];
      cs.in_use += s.classes[c][0].load(r);
      cs.free += s.classes[c][1].load(r);
      cs.from_system += s.classes[c][2].load(r);
      cs.to_system += s.classes[c][3].load(r);
      cs.high_water += s.classes[c][4].load(r);
      cs.failures += s.classes[c][5].load(r);
    }
  }
  return t;
}

StatusFigures collect_status(const proc::SharedStats* stats, const PoolBoard* board) {
  StatusFigures f;
  if (!stats) return f;
  using proc::Counter;
  f.active = stats->total(Counter::kActive);
  f.reading = stats->total(Counter::kReading);
  f.writing = stats->total(Counter::kWriting);
  f.waiting = stats->total(Counter::kWaiting);
  f.accepted = stats->total(Counter::kAccepted);
  f.handled = stats->total(Counter::kHandled);
  f.requests = stats->total(Counter::kRequests);
  f.workers = stats->live_workers();
  if (board) f.pool = board->total(*stats);
  return f;
}

std::string render_status_text(const StatusFigures& f) {
  std::string out;
  appendf(out, "Active connections: %" PRId64 " \n", f.active);
  out += "server accepts handled requests\n";
  appendf(out, " %" PRId64 " %" PRId64 " %" PRId64 " \n", f.accepted, f.handled, f.requests);
  appendf(out, "Reading: %" PRId64 " Writing: %" PRId64 " Waiting: %" PRId64 " \n", f.reading,
          f.writing, f.waiting);
  appendf(out, "Workers: %zu\n", f.workers);
  appendf(out, "Pool held_bytes: %zu limit_bytes: %zu\n", f.pool.held_bytes, f.pool.limit_bytes);
  for (std::size_t c = 0; c < mem::kNumClasses; ++c) {
    const mem::ClassStats& cs = f.pool.classes[c];
    appendf(out,
            "Pool class %zu in_use: %" PRIu64 " free: %" PRIu64 " high_water: %" PRIu64
            " from_system: %" PRIu64 " to_system: %" PRIu64 " failures: %" PRIu64 "\n",
            mem::kClassSizes[c], cs.in_use, cs.free, cs.high_water, cs.from_system, cs.to_system,
            cs.failures);
  }
  return out;
}

std::string render_status_json(const StatusFigures& f) {
  std::string out;
  appendf(out,
          "{\"active\":%" PRId64 ",\"reading\":%" PRId64 ",\"writing\":%" PRId64
          ",\"waiting\":%" PRId64 ",\"accepted\":%" PRId64 ",\"handled\":%" PRId64
          ",\"requests\":%" PRId64 ",\"workers\":%zu,",
          f.active, f.reading, f.writing, f.waiting, f.accepted, f.handled, f.requests, f.workers);
  appendf(out, "\"pool\":{\"held_bytes\":%zu,\"limit_bytes\":%zu,\"classes\":[", f.pool.held_bytes,
          f.pool.limit_bytes);
  for (std::size_t c = 0; c < mem::kNumClasses; ++c) {
    const mem::ClassStats& cs = f.pool.classes[c];
    appendf(out,
            "%s{\"size\":%zu,\"in_use\":%" PRIu64 ",\"free\":%" PRIu64 ",\"high_water\":%" PRIu64
            ",\"from_system\":%" PRIu64 ",\"to_system\":%" PRIu64 ",\"failures\":%" PRIu64 "}",
            c ? "," : "", mem::kClassSizes[c], cs.in_use, cs.free, cs.high_water, cs.from_system,
            cs.to_system, cs.failures);
  }
  out += "]}}\n";
  return out;
}

std::string render_prometheus(const StatusFigures& f) {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help, std::int64_t v) {
    appendf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRId64 "\n", name, help, name, type, name, v);
  };
  metric("sluice_connections_accepted_total", "counter", "Connections accepted.", f.accepted);
  metric("sluice_connections_handled_total", "counter", "Connections handled.", f.handled);
  metric("sluice_http_requests_total", "counter", "Requests answered.", f.requests);
  metric("sluice_connections_active", "gauge", "Open client connections.", f.active);
  out +=
      "# HELP sluice_connections Open client connections by state.\n"
      "# TYPE sluice_connections gauge\n";
  appendf(out, "sluice_connections{state=\"reading\"} %" PRId64 "\n", f.reading);
  appendf(out, "sluice_connections{state=\"writing\"} %" PRId64 "\n", f.writing);
  appendf(out, "sluice_connections{state=\"waiting\"} %" PRId64 "\n", f.waiting);
  metric("sluice_workers", "gauge", "Live worker processes.", static_cast<std::int64_t>(f.workers));
  metric("sluice_pool_held_bytes", "gauge", "Bytes held by the buffer pools.",
         static_cast<std::int64_t>(f.pool.held_bytes));
  metric("sluice_pool_limit_bytes", "gauge", "Sum of the buffer pools' limits (0: none).",
         static_cast<std::int64_t>(f.pool.limit_bytes));
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t mem::ClassStats::*field;
  };
  const Series series[] = {
      {"sluice_pool_blocks_in_use", "gauge", "Pool blocks handed out.", &mem::ClassStats::in_use},
      {"sluice_pool_blocks_free", "gauge", "Pool blocks held free.", &mem::ClassStats::free},
      {"sluice_pool_blocks_high_water", "gauge", "Most pool blocks held at once (sum of workers).",
       &mem::ClassStats::high_water},
      {"sluice_pool_blocks_from_system_total", "counter", "Pool blocks obtained from the system.",
       &mem::ClassStats::from_system},
      {"sluice_pool_blocks_to_system_total", "counter", "Pool blocks given back to the system.",
       &mem::ClassStats::to_system},
      {"sluice_pool_failures_total", "counter", "Pool allocations refused by the limit.",
       &mem::ClassStats::failures},
  };
  for (const Series& s : series) {
    appendf(out, "# HELP %s %s\n# TYPE %s %s\n", s.name, s.help, s.name, s.type);
    for (std::size_t c = 0; c < mem::kNumClasses; ++c)
      appendf(out, "%s{class=\"%zu\"} %" PRIu64 "\n", s.name, mem::kClassSizes[c],
              f.pool.classes[c].*(s.field));
  }
  return out;
}

}  // namespace sluice::app
