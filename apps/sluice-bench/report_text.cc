// Text report.
#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "report.h"

namespace sluice::bench {

void appendf(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

namespace {

std::string percentile_label(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "p%g", p);
  return buf;
}

void latency_lines(std::string& out, const char* title, const Histogram& h) {
  appendf(out, "%-15s min %" PRIu64 "  mean %.2f  stdev %.2f  max %" PRIu64 "\n", title, h.min(),
          h.mean(), h.stdev(), h.max());
  std::string line = "               ";
  for (double p : kReportPercentiles) {
    appendf(line, "%s %" PRIu64 "  ", percentile_label(p).c_str(), h.percentile(p));
  }
  while (!line.empty() && line.back() == ' ') line.pop_back();
  out += line + "\n";
}

void latency_table(std::string& out, const char* title, const Histogram& h) {
  appendf(out, "%s\n", title);
  static constexpr double kTable[] = {50, 75, 90, 95, 99, 99.9, 99.99, 99.999, 100};
  for (double p : kTable) appendf(out, "  %8g%%  %12" PRIu64 " us\n", p, h.percentile(p));
}

}  // namespace

std::string format_text(const Options& o, const Results& r) {
  const WorkerStats& t = r.totals;
  std::string out;
  appendf(out, "Target:        %s\n", o.url_text.c_str());
  appendf(out, "Setup:         %u threads, %u connections, %s, pipeline %u", r.threads,
          r.connections, o.keepalive ? "keep-alive" : "a connection per request", o.pipeline);
  if (o.rate > 0) appendf(out, ", rate %.2f/s", o.rate);
  out += "\n";
  appendf(out, "Duration:      %.3f s\n", r.seconds);
  appendf(out,
          "Requests:      completed %" PRIu64 "  sent %" PRIu64 "  lost %" PRIu64
          "  unfinished %" PRIu64 "\n",
          t.completed, t.sent, t.lost, t.unfinished);
  appendf(out, "Requests/sec:  %.2f\n", r.requests_per_second());
  appendf(out, "Bytes read:    %" PRIu64 "  (%.2f/s)\n", t.bytes_read, r.bytes_per_second());
  appendf(out, "Bytes written: %" PRIu64 "\n", t.bytes_written);
  if (r.rate_mode) {
    latency_lines(out, "Latency (us):", t.latency);
    latency_lines(out, "Uncorrected:", t.latency_uncorrected);
  } else {
    latency_lines(out, "Latency (us):", t.latency);
  }
  appendf(out,
          "Status:        2xx %" PRIu64 "  3xx %" PRIu64 "  4xx %" PRIu64 "  5xx %" PRIu64
          "  non-2xx %" PRIu64 "\n",
          r.status_class(2), r.status_class(3), r.status_class(4), r.status_class(5), r.non_2xx());
  std::string codes = "Status codes: ";
  for (const auto& [code, n] : r.status_codes()) appendf(codes, " %d %" PRIu64 " ", code, n);
  while (!codes.empty() && codes.back() == ' ') codes.pop_back();
  out += codes + "\n";
  appendf(out,
          "Errors:        connect %" PRIu64 "  read %" PRIu64 "  write %" PRIu64
          "  timeout %" PRIu64 "  protocol %" PRIu64 "\n",
          t.errors.connect, t.errors.read, t.errors.write, t.errors.timeout, t.errors.protocol);
  appendf(out, "Connections:   opened %" PRIu64 "\n", t.connections_opened);
  if (o.latency_table) {
    latency_table(
        out, r.rate_mode ? "Latency distribution (corrected for --rate):" : "Latency distribution:",
        t.latency);
    if (r.rate_mode)
      latency_table(out, "Latency distribution (uncorrected):", t.latency_uncorrected);
  }
  return out;
}

}  // namespace sluice::bench
