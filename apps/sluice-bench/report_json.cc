// JSON report: the text report's figures, rounded the same way.
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "report.h"

namespace sluice::bench {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20) {
      appendf(out, "\\u%04x", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

void latency_object(std::string& out, const char* name, const Histogram& h) {
  appendf(out,
          "  \"%s\": {\"count\": %" PRIu64 ", \"min\": %" PRIu64
          ", \"mean\": %.2f, \"stdev\": %.2f, \"max\": %" PRIu64,
          name, h.count(), h.min(), h.mean(), h.stdev(), h.max());
  for (double p : kReportPercentiles) appendf(out, ", \"p%g\": %" PRIu64, p, h.percentile(p));
  out += "},\n";
}

}  // namespace

std::string format_json(const Options& o, const Results& r) {
  const WorkerStats& t = r.totals;
  std::string out = "{\n";
  appendf(out, "  \"url\": %s,\n", quoted(o.url_text).c_str());
  appendf(out, "  \"threads\": %u, \"connections\": %u, \"pipeline\": %u, \"keepalive\": %s,\n",
          r.threads, r.connections, o.pipeline, o.keepalive ? "true" : "false");
  appendf(out, "  \"rate\": %.2f,\n", o.rate);
  appendf(out, "  \"duration_s\": %.3f,\n", r.seconds);
  appendf(out,
          "  \"requests\": {\"completed\": %" PRIu64 ", \"sent\": %" PRIu64 ", \"lost\": %" PRIu64
          ", \"unfinished\": %" PRIu64 "},\n",
          t.completed, t.sent, t.lost, t.unfinished);
  appendf(out, "  \"requests_per_sec\": %.2f,\n", r.requests_per_second());
  appendf(out,
          "  \"bytes_read\": %" PRIu64 ", \"bytes_read_per_sec\": %.2f, \"bytes_written\": %" PRIu64
          ",\n",
          t.bytes_read, r.bytes_per_second(), t.bytes_written);
  latency_object(out, "latency_us", t.latency);
  latency_object(out, "latency_uncorrected_us", t.latency_uncorrected);
  appendf(out,
          "  \"status\": {\"2xx\": %" PRIu64 ", \"3xx\": %" PRIu64 ", \"4xx\": %" PRIu64
          ", \"5xx\": %" PRIu64 ", \"non_2xx\": %" PRIu64 ", \"codes\": {",
          r.status_class(2), r.status_class(3), r.status_class(4), r.status_class(5), r.non_2xx());
  bool first = true;
  for (const auto& [code, n] : r.status_codes()) {
    appendf(out, "%s\"%d\": %" PRIu64, first ? "" : ", ", code, n);
    first = false;
  }
  out += "}},\n";
  appendf(out,
          "  \"errors\": {\"connect\": %" PRIu64 ", \"read\": %" PRIu64 ", \"write\": %" PRIu64
          ", \"timeout\": %" PRIu64 ", \"protocol\": %" PRIu64 ", \"total\": %" PRIu64 "},\n",
          t.errors.connect, t.errors.read, t.errors.write, t.errors.timeout, t.errors.protocol,
          t.errors.total());
  appendf(out, "  \"connections_opened\": %" PRIu64 "\n", t.connections_opened);
  out += "}\n";
  return out;
}

}  // namespace sluice::bench
