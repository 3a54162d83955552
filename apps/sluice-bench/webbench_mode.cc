// webbench mode: webbench's command line and its report lines.
#include "webbench_mode.h"

#include <algorithm>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>

#include "arg_cursor.h"

namespace sluice::bench {

using detail::ArgCursor;
using detail::error;
using detail::finish_url;
using detail::parse_unsigned;

ParseOutcome parse_webbench_options(const std::vector<std::string>& args, Options& out) {
  out.format = OutputFormat::kWebbench;
  out.keepalive = false;  // webbench opens a connection per request
  out.http10 = true;      // webbench's default protocol is HTTP/1.0
  out.webbench_http_version = 10;
  out.duration = std::chrono::seconds(30);
  out.connections = 1;
  out.progress = false;
  ArgCursor cur(args);
  std::string v;
  bool time_given = false;
  while (!cur.done()) {
    const std::string& arg = cur.current();
    if (arg == "--webbench") {
      cur.advance();
    } else if (cur.is("-c", true) || cur.is("--clients", true)) {
      const std::string name = cur.is("-c", true) ? "-c" : "--clients";
      if (!cur.value(name, v) || !parse_unsigned(v, out.connections) || out.connections == 0)
        return error("-c needs a positive number of clients");
    } else if (cur.is("-t", true) || cur.is("--time", true)) {
      const std::string name = cur.is("-t", true) ? "-t" : "--time";
      std::uint32_t seconds = 0;
      if (!cur.value(name, v) || !parse_unsigned(v, seconds) || seconds == 0)
        return error("-t needs a positive number of seconds");
      out.duration = std::chrono::seconds(seconds);
      time_given = true;
    } else if (cur.is("-n", true)) {
      if (!cur.value("-n", v) || !parse_unsigned(v, out.requests) || out.requests == 0)
        return error("-n needs a positive number of requests");
    } else if (cur.is("--threads", true)) {
      if (!cur.value("--threads", v) || !parse_unsigned(v, out.threads) || out.threads == 0)
        return error("--threads needs a positive number");
    } else if (cur.is("--json-out", true)) {
      if (!cur.value("--json-out", v) || v.empty()) return error("--json-out needs a file");
      out.json_out = v;
    } else if (arg == "-f" || arg == "--force") {
      out.wait_for_reply = false;
      cur.advance();
    } else if (arg == "-r" || arg == "--reload") {
      out.webbench_reload = true;
      cur.advance();
    } else if (arg == "-1" || arg == "--http10") {
      out.http10 = true;
      out.webbench_http_version = 10;
      cur.advance();
    } else if (arg == "-2" || arg == "--http11") {
      out.http10 = false;
      out.webbench_http_version = 11;
      cur.advance();
    } else if (arg == "-9" || arg == "--http09") {
      // HTTP/0.9 (a bare "GET /path" with a headerless reply) is not
      // supported: replies cannot be checked without a status line. The
      // request is sent as HTTP/1.0, which every 0.9 server era answers.
      out.http10 = true;
      out.webbench_http_version = 9;
      cur.advance();
    } else if (arg == "--get" || arg == "--head" || arg == "--options" || arg == "--trace") {
      out.method = arg.substr(2);
      std::transform(out.method.begin(), out.method.end(), out.method.begin(),
                     [](unsigned char c) { return static_cast<char>(c - ('a' - 'A')); });
      cur.advance();
    } else if (cur.is("-p", true) || cur.is("--proxy", true)) {
      return error("webbench's -p/--proxy is not supported by sluice-bench");
    } else if (arg == "-?" || arg == "-h" || arg == "--help") {
      return {ParseOutcome::Kind::kHelp, {}};
    } else if (arg == "-V" || arg == "--version") {
      return {ParseOutcome::Kind::kVersion, {}};
    } else if (!arg.empty() && arg[0] == '-') {
      return error("unknown webbench option '" + arg + "'");
    } else {
      if (!out.url_text.empty()) return error("more than one URL given");
      out.url_text = arg;
      cur.advance();
    }
  }
  if (out.webbench_reload) {
    out.headers.emplace_back("Pragma", "no-cache");
    if (!out.http10) out.headers.emplace_back("Cache-Control", "no-cache");
  }
  if (out.requests > 0 && !time_given) out.duration = std::chrono::nanoseconds(0);
  return finish_url(out);
}

std::string webbench_usage_text() {
  return R"(Usage: sluice-bench --webbench [option]... URL
  -f|--force      don't wait for reply from server (success = request written)
  -r|--reload     send reload request (Pragma: no-cache)
  -t|--time N     run benchmark for N seconds (default 30)
  -c|--clients N  run N HTTP clients at once (default 1)
  -n N            stop after N requests (sluice-bench addition)
  --threads N     event-loop threads (sluice-bench addition)
  -9|--http09     HTTP/0.9 is not supported: requests are sent as HTTP/1.0
  -1|--http10     use HTTP/1.0 protocol (default)
  -2|--http11     use HTTP/1.1 protocol
  --get --head --options --trace   request method
  -?|-h|--help    this information;  -V|--version
)";
}

namespace {

[[gnu::format(printf, 2, 3)]] void add(std::string& out, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  const int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n > 0) out.append(buf, std::min(static_cast<std::size_t>(n), sizeof buf - 1));
}

}  // namespace

std::string webbench_banner(const Options& o) {
  std::string out;
  out += "Webbench - Simple Web Benchmark (sluice-bench compatible mode)\n\n";
  if (o.webbench_http_version == 9)
    out += "HTTP/0.9 is not supported; requests are sent as HTTP/1.0.\n";
  add(out, "Benchmarking: %s %s", o.method.c_str(), o.url_text.c_str());
  if (o.webbench_http_version == 11)
    out += " (using HTTP/1.1)";
  else
    out += " (using HTTP/1.0)";
  out += "\n";
  add(out, "%u client%s", o.connections, o.connections == 1 ? "" : "s");
  if (o.duration.count() > 0)
    add(out, ", running %lld sec",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::seconds>(o.duration).count()));
  if (o.requests > 0) add(out, ", %" PRIu64 " requests", o.requests);
  if (!o.wait_for_reply) out += ", early socket close";
  if (o.webbench_reload) out += ", forcing reload";
  out += ".\n";
  return out;
}

// webbench's two result lines (its spelling kept, so scripts that grep for
// "susceed" keep working), then what webbench never said: the non-2xx
// responses (counted in "susceed": they are complete responses) and the
// errors by kind.
std::string format_webbench(const Options& o, const Results& r) {
  const WorkerStats& t = r.totals;
  const double minutes = r.seconds / 60.0;
  const auto pages_per_min =
      static_cast<std::uint64_t>(minutes > 0 ? static_cast<double>(t.completed) / minutes : 0);
  const auto bytes_per_sec = static_cast<std::uint64_t>(r.bytes_per_second());
  std::string out;
  add(out, "\nSpeed=%" PRIu64 " pages/min, %" PRIu64 " bytes/sec.\n", pages_per_min, bytes_per_sec);
  add(out, "Requests: %" PRIu64 " susceed, %" PRIu64 " failed.\n", t.completed, t.errors.total());
  if (o.wait_for_reply) {
    std::string codes;
    for (const auto& [code, n] : r.status_codes())
      if (code < 200 || code >= 300)
        add(codes, "%s%d: %" PRIu64, codes.empty() ? "" : ", ", code, n);
    add(out, "Non-2xx responses: %" PRIu64 "%s%s%s\n", r.non_2xx(), codes.empty() ? "" : " (",
        codes.c_str(), codes.empty() ? "" : ")");
  }
  add(out,
      "Errors: connect %" PRIu64 ", read %" PRIu64 ", write %" PRIu64 ", timeout %" PRIu64
      ", protocol %" PRIu64 ".\n",
      t.errors.connect, t.errors.read, t.errors.write, t.errors.timeout, t.errors.protocol);
  return out;
}

}  // namespace sluice::bench
