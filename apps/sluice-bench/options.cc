// Command-line grammar of sluice-bench (native and --webbench).
#include "options.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "arg_cursor.h"
#include "webbench_mode.h"

namespace sluice::bench {

using detail::ArgCursor;
using detail::error;
using detail::finish_url;
using detail::parse_positive_double;
using detail::parse_unsigned;

namespace {

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool header_from_text(const std::string& text, std::pair<std::string, std::string>& out) {
  const auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string name = text.substr(0, colon);
  std::string value = text.substr(colon + 1);
  const auto first = value.find_first_not_of(" \t");
  value = first == std::string::npos ? std::string() : value.substr(first);
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  if (name.find_first_of(" \t\r\n") != std::string::npos ||
      value.find_first_of("\r\n") != std::string::npos)
    return false;
  out = {std::move(name), std::move(value)};
  return true;
}

}  // namespace

bool parse_duration(const std::string& text, std::chrono::nanoseconds& out) {
  std::size_t digits_end = 0;
  while (digits_end < text.size() &&
         ((text[digits_end] >= '0' && text[digits_end] <= '9') || text[digits_end] == '.'))
    ++digits_end;
  double number = 0;
  if (!parse_positive_double(text.substr(0, digits_end), number)) return false;
  const std::string unit = text.substr(digits_end);
  double scale = 1e9;
  if (unit.empty() || unit == "s") {
    scale = 1e9;
  } else if (unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "m") {
    scale = 60e9;
  } else if (unit == "h") {
    scale = 3600e9;
  } else {
    return false;
  }
  const double ns = number * scale;
  if (ns < 1 || ns > 1e18) return false;
  out = std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
  return true;
}

bool parse_source_range(const std::string& text, std::vector<std::string>& out,
                        std::string& error) {
  const auto dash = text.find('-');
  const std::string first = text.substr(0, dash);
  const std::string last = dash == std::string::npos ? first : text.substr(dash + 1);
  in_addr a{};
  in_addr b{};
  if (::inet_pton(AF_INET, first.c_str(), &a) != 1 || ::inet_pton(AF_INET, last.c_str(), &b) != 1) {
    if (dash == std::string::npos) {  // maybe a single IPv6 address
      in6_addr six{};
      if (::inet_pton(AF_INET6, text.c_str(), &six) == 1) {
        out.push_back(text);
        return true;
      }
    }
    error = "bad --source '" + text + "' (an IPv4 address or ADDR-ADDR range)";
    return false;
  }
  const std::uint32_t lo = ntohl(a.s_addr);
  const std::uint32_t hi = ntohl(b.s_addr);
  if (hi < lo || hi - lo >= 65536) {
    error = "bad --source range '" + text + "'";
    return false;
  }
  for (std::uint32_t ip = lo;; ++ip) {
    in_addr cur{};
    cur.s_addr = htonl(ip);
    char buf[INET_ADDRSTRLEN];
    out.emplace_back(::inet_ntop(AF_INET, &cur, buf, sizeof buf));
    if (ip == hi) break;
  }
  return true;
}

ParseOutcome parse_options(const std::vector<std::string>& args, Options& out) {
  out = Options{};
  if (std::find(args.begin(), args.end(), "--webbench") != args.end())
    return parse_webbench_options(args, out);
  ArgCursor cur(args);
  std::string v;
  bool duration_given = false;
  bool keepalive_given = false;
  while (!cur.done()) {
    const std::string& arg = cur.current();
    if (arg == "--") {
      cur.advance();
      if (!cur.done()) {
        out.url_text = cur.current();
        cur.advance();
      }
      continue;
    }
    if (cur.is("-c", true) || cur.is("--connections", true)) {
      const std::string name = cur.is("-c", true) ? "-c" : "--connections";
      if (!cur.value(name, v) || !parse_unsigned(v, out.connections) || out.connections == 0)
        return error("-c/--connections needs a positive number");
    } else if (cur.is("-t", true) || cur.is("--threads", true)) {
      const std::string name = cur.is("-t", true) ? "-t" : "--threads";
      if (!cur.value(name, v) || !parse_unsigned(v, out.threads) || out.threads == 0)
        return error("-t/--threads needs a positive number");
    } else if (cur.is("-d", true) || cur.is("--duration", true)) {
      const std::string name = cur.is("-d", true) ? "-d" : "--duration";
      if (!cur.value(name, v) || !parse_duration(v, out.duration))
        return error("-d/--duration needs a duration such as 10s, 500ms, 2m");
      duration_given = true;
    } else if (cur.is("-n", true) || cur.is("--requests", true)) {
      const std::string name = cur.is("-n", true) ? "-n" : "--requests";
      if (!cur.value(name, v) || !parse_unsigned(v, out.requests) || out.requests == 0)
        return error("-n/--requests needs a positive number");
    } else if (cur.is("--pipeline", true)) {
      if (!cur.value("--pipeline", v) || !parse_unsigned(v, out.pipeline) || out.pipeline == 0 ||
          out.pipeline > 1024)
        return error("--pipeline needs a number from 1 to 1024");
    } else if (cur.is("-R", true) || cur.is("--rate", true)) {
      const std::string name = cur.is("-R", true) ? "-R" : "--rate";
      if (!cur.value(name, v) || !parse_positive_double(v, out.rate))
        return error("--rate needs a positive number of requests per second");
    } else if (cur.is("--timeout", true)) {
      if (!cur.value("--timeout", v) || !parse_duration(v, out.timeout))
        return error("--timeout needs a duration such as 2s");
    } else if (cur.is("-H", true) || cur.is("--header", true)) {
      const std::string name = cur.is("-H", true) ? "-H" : "--header";
      std::pair<std::string, std::string> header;
      if (!cur.value(name, v) || !header_from_text(v, header))
        return error("-H needs 'Name: value'");
      out.headers.push_back(std::move(header));
    } else if (cur.is("-m", true) || cur.is("--method", true)) {
      const std::string name = cur.is("-m", true) ? "-m" : "--method";
      if (!cur.value(name, v) || v.empty() || v.find_first_of(" \t\r\n") != std::string::npos)
        return error("--method needs a token such as GET or POST");
      out.method = v;
    } else if (cur.is("--body", true)) {
      if (!cur.value("--body", v)) return error("--body needs a value");
      out.body = v;
    } else if (cur.is("--body-file", true)) {
      if (!cur.value("--body-file", v) || !read_file(v, out.body))
        return error("--body-file: cannot read '" + v + "'");
    } else if (cur.is("--source", true)) {
      if (!cur.value("--source", v)) return error("--source needs an address or range");
      std::string err;
      std::size_t start = 0;
      while (start <= v.size()) {  // also a comma-separated list
        const auto comma = v.find(',', start);
        const std::string part =
            v.substr(start, comma == std::string::npos ? v.npos : comma - start);
        if (!parse_source_range(part, out.sources, err)) return error(err);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (cur.is("--json-out", true)) {
      if (!cur.value("--json-out", v) || v.empty()) return error("--json-out needs a file");
      out.json_out = v;
    } else if (arg == "--http1.0") {
      out.http10 = true;
      cur.advance();
    } else if (arg == "--no-keepalive") {
      out.keepalive = false;
      keepalive_given = true;
      cur.advance();
    } else if (arg == "--json") {
      out.format = OutputFormat::kJson;
      cur.advance();
    } else if (arg == "--latency") {
      out.latency_table = true;
      cur.advance();
    } else if (arg == "--no-progress") {
      out.progress = false;
      cur.advance();
    } else if (arg == "-h" || arg == "--help") {
      return {ParseOutcome::Kind::kHelp, {}};
    } else if (arg == "-v" || arg == "--version") {
      return {ParseOutcome::Kind::kVersion, {}};
    } else if (arg.size() > 1 && arg[0] == '-') {
      return error("unknown option '" + arg + "' (see --help)");
    } else {
      if (!out.url_text.empty()) return error("more than one URL given");
      out.url_text = arg;
      cur.advance();
    }
  }
  (void)keepalive_given;
  if (!duration_given && out.requests == 0) out.duration = std::chrono::seconds(10);
  if (out.pipeline > 1 && !out.keepalive)
    return error("--pipeline needs keep-alive (drop --no-keepalive)");
  return finish_url(out);
}

std::string usage_text() {
  return R"(Usage: sluice-bench [options] URL
       sluice-bench --webbench [-c CLIENTS] [-t SECONDS] [-f] [-r] [-1|-2|-9] URL

HTTP/1.x load generator. One event loop per thread, keep-alive by default.

  -c, --connections N   open connections (default 10)
  -t, --threads N       threads, one event loop each (default: CPUs, at most N)
  -d, --duration T      run time: 10s, 500ms, 2m (default 10s unless -n)
  -n, --requests N      send exactly N requests, then stop
      --pipeline N      requests in flight per connection (default 1)
  -R, --rate R          constant total rate in requests/s; latency counted
                        from each request's intended send time
      --timeout T       a response stalled longer than T is an error (default 5s)
  -H, --header 'K: V'   add a request header (repeatable; replaces Host etc.)
  -m, --method M        request method (default GET)
      --body TEXT       request body (Content-Length is added)
      --body-file PATH  request body from a file
      --http1.0         send HTTP/1.0 requests (with Connection: keep-alive)
      --no-keepalive    a new connection per request (Connection: close)
      --source A[-B]    loopback source address(es), round-robin (repeatable;
                        lifts the 28K ephemeral-port limit per address)
      --latency         print the full percentile table
      --json            print results as JSON instead of text
      --json-out FILE   also write the JSON results to FILE
      --no-progress     no per-second progress line on a terminal
  -h, --help            this text;  -v, --version
)";
}

}  // namespace sluice::bench
