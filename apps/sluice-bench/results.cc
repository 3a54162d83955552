#include "results.h"

namespace sluice::bench {

void WorkerStats::add(const WorkerStats& o) noexcept {
  sent += o.sent;
  completed += o.completed;
  lost += o.lost;
  unfinished += o.unfinished;
  bytes_read += o.bytes_read;
  bytes_written += o.bytes_written;
  connections_opened += o.connections_opened;
  status_other += o.status_other;
  for (std::size_t i = 0; i < status.size(); ++i) status[i] += o.status[i];
  errors.add(o.errors);
  latency.merge(o.latency);
  latency_uncorrected.merge(o.latency_uncorrected);
}

std::uint64_t Results::status_class(int hundreds) const noexcept {
  std::uint64_t n = 0;
  for (int code = hundreds * 100; code < hundreds * 100 + 100 && code < WorkerStats::kCodes; ++code)
    n += totals.status[static_cast<std::size_t>(code)];
  return n;
}

std::uint64_t Results::non_2xx() const noexcept {
  std::uint64_t n = totals.status_other;
  for (int code = 0; code < WorkerStats::kCodes; ++code)
    if (code < 200 || code >= 300) n += totals.status[static_cast<std::size_t>(code)];
  return n;
}

std::vector<std::pair<int, std::uint64_t>> Results::status_codes() const {
  std::vector<std::pair<int, std::uint64_t>> out;
  for (int code = 0; code < WorkerStats::kCodes; ++code)
    if (totals.status[static_cast<std::size_t>(code)] != 0)
      out.emplace_back(code, totals.status[static_cast<std::size_t>(code)]);
  if (totals.status_other != 0) out.emplace_back(600, totals.status_other);
  return out;
}

}  // namespace sluice::bench
