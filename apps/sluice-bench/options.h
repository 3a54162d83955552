// Options: what one sluice-bench run does, parsed from the command line.
// Two grammars: the native one (wrk-like) and --webbench (webbench's flags,
// mapped onto the same Options). Parsing never exits: it returns an error
// text, or asks for help/version. Thread rules: a value.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "url.h"

namespace sluice::bench {

enum class OutputFormat { kText, kJson, kWebbench };

struct Options {
  Url url;
  std::string url_text;
  std::uint32_t connections = 10;
  std::uint32_t threads = 0;  // 0: one per CPU in the affinity mask, at most `connections`
  std::chrono::nanoseconds duration{0};  // 0 with requests > 0: no time limit
  std::uint64_t requests = 0;            // 0: no count limit
  std::uint32_t pipeline = 1;
  double rate = 0;  // total requests/s; 0: closed loop (as fast as responses come)
  std::chrono::nanoseconds timeout = std::chrono::seconds(5);
  std::string method = "GET";
  std::vector<std::pair<std::string, std::string>> headers;  // -H, in order
  std::string body;
  bool http10 = false;
  bool keepalive = true;
  bool wait_for_reply = true;        // webbench -f sets false: success when written
  std::vector<std::string> sources;  // numeric source addresses, used round-robin
  OutputFormat format = OutputFormat::kText;
  std::string json_out;  // also write JSON results to this file
  bool latency_table = false;
  bool progress = true;  // still only when stderr is a terminal
  // Webbench mode only: what the banner says.
  int webbench_http_version = 10;  // 9, 10 or 11 as asked with -9/-1/-2
  bool webbench_reload = false;
};

struct ParseOutcome {
  enum class Kind { kRun, kHelp, kVersion, kError };
  Kind kind = Kind::kRun;
  std::string error;  // for kError
};

// args excludes argv[0].
ParseOutcome parse_options(const std::vector<std::string>& args, Options& out);

// "10s", "500ms", "2m", "1h", "250us", or a plain number of seconds.
bool parse_duration(const std::string& text, std::chrono::nanoseconds& out);
// "127.0.0.2" or "127.0.0.2-127.0.0.9" (IPv4 range) appended to out.
bool parse_source_range(const std::string& text, std::vector<std::string>& out, std::string& error);

std::string usage_text();
inline constexpr const char* kVersion = "sluice-bench 0.1.0";

}  // namespace sluice::bench
