// The sluice server's configuration: a TOML file (docs/operations.md lists every
// key), defaults for what it leaves out, and the command-line flags that
// override both. Loading validates everything an operator can get wrong, so
// that `sluice -t` and a reload catch it: errors name the file, the line and
// the key. Thread rules: plain values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sluice/base/clock.h"
#include "sluice/base/log.h"
#include "sluice/http/limits.h"
#include "sluice/net/inet_address.h"
#include "sluice/proc/program.h"

namespace sluice::app {

// An address block allowed to read the status endpoint ("127.0.0.1", "10.0.0.0/8", "::1").
struct AddressRange {
  int family = 0;             // AF_INET or AF_INET6
  unsigned char bytes[16]{};  // network-order address
  int prefix = 0;             // bits compared
  bool contains(const net::InetAddress& address) const noexcept;
};
std::optional<AddressRange> parse_address_range(const std::string& text);

struct Config {
  std::string source;  // the file it came from; empty for built-in defaults
  proc::Plan plan;     // listen, workers, cpu_affinity, user, shutdown_timeout, nofile
  bool workers_auto = true;
  std::string pid_file;  // empty: none

  // Static files.
  std::string root;  // absolute
  std::vector<std::string> index = {"index.html"};
  bool directory_listing = false;
  bool symlinks_outside_root = false;
  std::map<std::string, std::string> mime_types;  // extension (lower case) -> type, extra
  std::string default_type = "application/octet-stream";
  Millis open_file_cache_valid{1000};
  std::size_t open_file_cache_entries = 1024;

  // HTTP.
  Millis header_timeout{60'000};
  Millis body_timeout{60'000};
  Millis keepalive_timeout{75'000};
  Millis send_timeout{60'000};
  http::ParserLimits limits;
  std::uint32_t requests_per_connection = 1000;
  std::size_t connections_per_worker = 10'000;
  std::size_t pool_memory = 0;  // 0: no limit

  // Logs.
  std::string access_log = "off";  // a path, or "off"
  std::string access_log_format = "combined_time";
  std::size_t access_log_buffer = 64 * 1024;
  std::string error_log = "stderr";  // a path, or "stderr"
  log::Level error_level = log::Level::kInfo;

  // Status.
  bool status_enabled = true;
  std::string status_path = "/status";
  std::string metrics_path = "/metrics";
  std::vector<AddressRange> status_allow;  // filled with loopback by default
};

// What the command line says; each set field overrides the file, at start and
// at every reload.
struct Overrides {
  std::optional<std::string> root;
  std::vector<std::string> listen;
  std::optional<std::string> workers;  // "N" or "auto"
  std::optional<std::string> pid_file;
};

// The bundled default site (www/), found relative to the running binary.
std::string default_site_root();

// Loads `path` (empty: defaults only) and applies `overrides`. On error,
// returns a message of the form "FILE:LINE:COL: key: what is wrong".
std::optional<std::string> load_config(const std::string& path, const Overrides& overrides,
                                       Config& out);

}  // namespace sluice::app
