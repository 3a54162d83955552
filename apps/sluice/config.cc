#include "config.h"

#include <arpa/inet.h>
#include <pwd.h>
#include <sched.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <functional>
#include <set>

namespace sluice::app {

namespace fs = std::filesystem;

bool AddressRange::contains(const net::InetAddress& address) const noexcept {
  unsigned char bytes_in[16]{};
  int fam = address.family();
  const sockaddr* sa = address.sockaddr_ptr();
  if (fam == AF_INET) {
    std::memcpy(bytes_in, &reinterpret_cast<const sockaddr_in*>(sa)->sin_addr, 4);
  } else if (fam == AF_INET6) {
    const auto* a6 = &reinterpret_cast<const sockaddr_in6*>(sa)->sin6_addr;
    if (IN6_IS_ADDR_V4MAPPED(a6) && family == AF_INET) {
      std::memcpy(bytes_in, a6->s6_addr + 12, 4);
      fam = AF_INET;
    } else {
      std::memcpy(bytes_in, a6->s6_addr, 16);
    }
  }
  if (fam != family) return false;
  int full = prefix / 8;
  if (std::memcmp(bytes_in, bytes, static_cast<std::size_t>(full)) != 0) return false;
  int rest = prefix % 8;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xFFu << (8 - rest));
  return (bytes_in[full] & mask) == (bytes[full] & mask);
}

std::optional<AddressRange> parse_address_range(const std::string& text) {
  AddressRange r;
  std::string ip = text;
  int max_bits = 0;
  std::optional<int> prefix;
  if (auto slash = text.find('/'); slash != std::string::npos) {
    ip = text.substr(0, slash);
    std::string bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3 ||
        !std::all_of(bits.begin(), bits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return std::nullopt;
    prefix = std::stoi(bits);
  }
  if (::inet_pton(AF_INET, ip.c_str(), r.bytes) == 1) {
    r.family = AF_INET;
    max_bits = 32;
  } else if (::inet_pton(AF_INET6, ip.c_str(), r.bytes) == 1) {
    r.family = AF_INET6;
    max_bits = 128;
  } else {
    return std::nullopt;
  }
  r.prefix = prefix.value_or(max_bits);
  if (r.prefix < 0 || r.prefix > max_bits) return std::nullopt;
  return r;
}

std::string default_site_root() {
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    fs::path bin = exe.parent_path();
    for (const fs::path& p : {bin / ".." / "share" / "sluice" / "www", bin / "www"}) {
      if (fs::is_directory(p / ".", ec)) return fs::weakly_canonical(p, ec).string();
    }
  }
#ifdef SLUICE_SOURCE_WWW
  if (fs::is_directory(SLUICE_SOURCE_WWW, ec)) return SLUICE_SOURCE_WWW;
#endif
  return "/usr/share/sluice/www";
}

namespace {

int online_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = ::sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

constexpr int kMaxWorkers = 64;

// "500ms", "60s", "5m", "1h", or a bare number of seconds.
std::optional<Millis> parse_duration(std::string_view s) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (n > 1'000'000'000ULL) return std::nullopt;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string_view unit = s.substr(i);
  std::uint64_t ms = 0;
  if (unit == "ms")
    ms = n;
  else if (unit == "s" || unit.empty())
    ms = n * 1000;
  else if (unit == "m")
    ms = n * 60'000;
  else if (unit == "h")
    ms = n * 3'600'000;
  else
    return std::nullopt;
  return Millis(static_cast<Millis::rep>(ms));
}

// "64k", "1m", "2g" (binary multiples, case-insensitive), or a bare number of bytes.
std::optional<std::uint64_t> parse_size(std::string_view s) {
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    n = n * 10 + static_cast<std::uint64_t>(s[i] - '0');
    if (n > (std::uint64_t{1} << 40)) return std::nullopt;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string unit(s.substr(i));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (unit.empty() || unit == "b") return n;
  if (unit == "k" || unit == "kb" || unit == "kib") return n << 10;
  if (unit == "m" || unit == "mb" || unit == "mib") return n << 20;
  if (unit == "g" || unit == "gb" || unit == "gib") return n << 30;
  return std::nullopt;
}

struct ConfigError {
  std::string message;
};

// Reads one TOML document, remembering where each value came from.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const toml::node& node, const std::string& key,
                         const std::string& what) const {
    const auto& where = node.source().begin;
    throw ConfigError{file_ + ":" + std::to_string(where.line) + ":" +
                      std::to_string(where.column) + ": " + key + ": " + what};
  }

  // Every key of `table` must be one of `known`.
  void check_keys(const toml::table& table, const std::string& prefix,
                  std::initializer_list<std::string_view> known) const {
    for (auto&& [k, v] : table) {
      if (std::find(known.begin(), known.end(), k.str()) == known.end())
        fail(v, prefix + std::string(k.str()), "unknown key");
    }
  }

  const toml::table* table(const toml::table& parent, std::string_view key,
                           const std::string& prefix) const {
    const toml::node* n = parent.get(key);
    if (!n) return nullptr;
    if (!n->is_table())
      fail(*n, prefix + std::string(key), "expected a table ([" + std::string(key) + "])");
    return n->as_table();
  }

  std::string string(const toml::node& n, const std::string& key) const {
    if (!n.is_string()) fail(n, key, "expected a string");
    return n.as_string()->get();
  }
  bool boolean(const toml::node& n, const std::string& key) const {
    if (!n.is_boolean()) fail(n, key, "expected true or false");
    return n.as_boolean()->get();
  }
  std::int64_t integer(const toml::node& n, const std::string& key, std::int64_t lo,
                       std::int64_t hi) const {
    if (!n.is_integer()) fail(n, key, "expected an integer");
    std::int64_t v = n.as_integer()->get();
    if (v < lo || v > hi)
      fail(n, key, "out of range: want " + std::to_string(lo) + ".." + std::to_string(hi));
    return v;
  }
  Millis duration(const toml::node& n, const std::string& key) const {
    std::optional<Millis> d;
    if (n.is_integer()) {
      auto v = n.as_integer()->get();
      if (v >= 0 && v <= 1'000'000'000) d = Millis(v * 1000);
    } else if (n.is_string()) {
      d = parse_duration(n.as_string()->get());
    } else {
      fail(n, key, "expected a duration (\"500ms\", \"60s\", \"5m\") or seconds");
    }
    if (!d) fail(n, key, "bad duration: want e.g. \"500ms\", \"60s\", \"5m\", \"1h\"");
    if (d->count() <= 0) fail(n, key, "must be greater than zero");
    return *d;
  }
  std::uint64_t size(const toml::node& n, const std::string& key, std::uint64_t lo,
                     std::uint64_t hi) const {
    std::optional<std::uint64_t> s;
    if (n.is_integer()) {
      auto v = n.as_integer()->get();
      if (v >= 0) s = static_cast<std::uint64_t>(v);
    } else if (n.is_string()) {
      s = parse_size(n.as_string()->get());
    } else {
      fail(n, key, "expected a size (bytes, or \"64k\", \"1m\", \"1g\")");
    }
    if (!s) fail(n, key, "bad size: want bytes, or e.g. \"64k\", \"1m\", \"1g\"");
    if (*s < lo || *s > hi)
      fail(n, key, "out of range: want " + std::to_string(lo) + ".." + std::to_string(hi));
    return *s;
  }
  std::vector<std::string> strings(const toml::node& n, const std::string& key,
                                   bool allow_single) const {
    std::vector<std::string> out;
    if (allow_single && n.is_string()) {
      out.push_back(n.as_string()->get());
      return out;
    }
    if (!n.is_array())
      fail(n, key,
           allow_single ? "expected a string or an array of strings"
                        : "expected an array of strings");
    for (const toml::node& e : *n.as_array()) out.push_back(string(e, key));
    return out;
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
};

bool valid_header_value(const std::string& v) {
  return !v.empty() && std::none_of(v.begin(), v.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

std::string resolve_path(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/' || base_dir.empty()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

void apply_file(const Reader& r, const toml::table& doc, Config& c, const std::string& base) {
  r.check_keys(doc, "",
               {"listen", "workers", "cpu_affinity", "user", "nofile_limit", "pid_file", "root",
                "index", "directory_listing", "symlinks_outside_root", "default_type", "mime_types",
                "open_file_cache", "timeouts", "limits", "access_log", "error_log", "status"});
  if (const toml::node* n = doc.get("listen")) {
    c.plan.listen.clear();
    for (const std::string& s : r.strings(*n, "listen", true)) {
      auto a = net::InetAddress::parse(s);
      if (!a) r.fail(*n, "listen", "bad address '" + s + "': want ADDR:PORT or [V6ADDR]:PORT");
      c.plan.listen.push_back(*a);
    }
    if (c.plan.listen.empty()) r.fail(*n, "listen", "needs at least one address");
  }
  if (const toml::node* n = doc.get("workers")) {
    if (n->is_string()) {
      if (n->as_string()->get() != "auto") r.fail(*n, "workers", "expected a number or \"auto\"");
      c.workers_auto = true;
    } else {
      c.plan.workers = static_cast<int>(r.integer(*n, "workers", 1, kMaxWorkers));
      c.workers_auto = false;
    }
  }
  if (const toml::node* n = doc.get("cpu_affinity"))
    c.plan.cpu_affinity = r.boolean(*n, "cpu_affinity");
  if (const toml::node* n = doc.get("user")) {
    c.plan.user = r.string(*n, "user");
    if (!c.plan.user.empty() && ::getpwnam(c.plan.user.c_str()) == nullptr)
      r.fail(*n, "user", "no such user '" + c.plan.user + "'");
  }
  if (const toml::node* n = doc.get("nofile_limit"))
    c.plan.nofile_limit = static_cast<std::uint64_t>(r.integer(*n, "nofile_limit", 0, 1 << 24));
  if (const toml::node* n = doc.get("pid_file"))
    c.pid_file = resolve_path(base, r.string(*n, "pid_file"));
  if (const toml::node* n = doc.get("root")) {
    std::string root = r.string(*n, "root");
    if (root.empty()) r.fail(*n, "root", "must not be empty");
    c.root = resolve_path(base, root);
    struct stat st {};
    if (::stat(c.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      r.fail(*n, "root", "'" + c.root + "' is not a directory");
  }
  if (const toml::node* n = doc.get("index")) {
    c.index = r.strings(*n, "index", true);
    for (const std::string& s : c.index)
      if (s.empty() || s == "." || s == ".." || s.find('/') != std::string::npos ||
          s.find('\0') != std::string::npos)
        r.fail(*n, "index", "'" + s + "' is not a file name");
  }
  if (const toml::node* n = doc.get("directory_listing"))
    c.directory_listing = r.boolean(*n, "directory_listing");
  if (const toml::node* n = doc.get("symlinks_outside_root"))
    c.symlinks_outside_root = r.boolean(*n, "symlinks_outside_root");
  if (const toml::node* n = doc.get("default_type")) {
    c.default_type = r.string(*n, "default_type");
    if (!valid_header_value(c.default_type)) r.fail(*n, "default_type", "not a valid media type");
  }
  if (const toml::table* t = r.table(doc, "mime_types", "")) {
    for (auto&& [k, v] : *t) {
      std::string ext(k.str());
      std::string key = "mime_types." + ext;
      if (ext.empty() || ext.find('.') != std::string::npos || ext.find('/') != std::string::npos)
        r.fail(v, key, "an extension is a name without dots, e.g. wasm");
      std::string type = r.string(v, key);
      if (!valid_header_value(type)) r.fail(v, key, "not a valid media type");
      for (char& ch : ext) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      c.mime_types[ext] = type;
    }
  }
  if (const toml::table* t = r.table(doc, "open_file_cache", "")) {
    r.check_keys(*t, "open_file_cache.", {"valid", "entries"});
    if (const toml::node* n = t->get("valid"))
      c.open_file_cache_valid = r.duration(*n, "open_file_cache.valid");
    if (const toml::node* n = t->get("entries"))
      c.open_file_cache_entries =
          static_cast<std::size_t>(r.integer(*n, "open_file_cache.entries", 0, 1'000'000));
  }
  if (const toml::table* t = r.table(doc, "timeouts", "")) {
    r.check_keys(*t, "timeouts.", {"header", "body", "keepalive", "send", "shutdown"});
    if (const toml::node* n = t->get("header"))
      c.header_timeout = r.duration(*n, "timeouts.header");
    if (const toml::node* n = t->get("body")) c.body_timeout = r.duration(*n, "timeouts.body");
    if (const toml::node* n = t->get("keepalive"))
      c.keepalive_timeout = r.duration(*n, "timeouts.keepalive");
    if (const toml::node* n = t->get("send")) c.send_timeout = r.duration(*n, "timeouts.send");
    if (const toml::node* n = t->get("shutdown"))
      c.plan.shutdown_timeout = r.duration(*n, "timeouts.shutdown");
  }
  if (const toml::table* t = r.table(doc, "limits", "")) {
    r.check_keys(*t, "limits.",
                 {"request_line", "header_line", "header_bytes", "headers", "body_size",
                  "requests_per_connection", "connections_per_worker", "pool_memory"});
    auto sz = [&](const char* key, std::uint64_t lo,
                  std::uint64_t hi) -> std::optional<std::uint64_t> {
      const toml::node* n = t->get(key);
      if (!n) return std::nullopt;
      return r.size(*n, std::string("limits.") + key, lo, hi);
    };
    if (auto v = sz("request_line", 64, 1 << 20)) c.limits.max_request_line = *v;
    if (auto v = sz("header_line", 64, 1 << 20)) c.limits.max_header_line = *v;
    if (auto v = sz("header_bytes", 64, 4 << 20)) c.limits.max_header_bytes = *v;
    if (const toml::node* n = t->get("headers"))
      c.limits.max_headers = static_cast<std::size_t>(r.integer(*n, "limits.headers", 1, 10'000));
    if (auto v = sz("body_size", 0, std::uint64_t{1} << 40)) c.limits.max_body_size = *v;
    if (const toml::node* n = t->get("requests_per_connection"))
      c.requests_per_connection = static_cast<std::uint32_t>(
          r.integer(*n, "limits.requests_per_connection", 1, 1'000'000'000));
    if (const toml::node* n = t->get("connections_per_worker"))
      c.connections_per_worker =
          static_cast<std::size_t>(r.integer(*n, "limits.connections_per_worker", 1, 10'000'000));
    if (auto v = sz("pool_memory", 0, std::uint64_t{1} << 40)) {
      if (*v != 0 && *v < (std::uint64_t{1} << 20))
        r.fail(*t->get("pool_memory"), "limits.pool_memory", "0 (no limit) or at least 1m");
      c.pool_memory = *v;
    }
  }
  if (const toml::table* t = r.table(doc, "access_log", "")) {
    r.check_keys(*t, "access_log.", {"path", "format", "buffer"});
    if (const toml::node* n = t->get("path")) {
      c.access_log = r.string(*n, "access_log.path");
      if (c.access_log.empty()) r.fail(*n, "access_log.path", "a path, or \"off\"");
      if (c.access_log != "off") c.access_log = resolve_path(base, c.access_log);
    }
    if (const toml::node* n = t->get("format")) {
      c.access_log_format = r.string(*n, "access_log.format");
      if (c.access_log_format != "combined" && c.access_log_format != "combined_time")
        r.fail(*n, "access_log.format", "want \"combined\" or \"combined_time\"");
    }
    if (const toml::node* n = t->get("buffer"))
      c.access_log_buffer = r.size(*n, "access_log.buffer", 0, 16 << 20);
  }
  if (const toml::table* t = r.table(doc, "error_log", "")) {
    r.check_keys(*t, "error_log.", {"path", "level"});
    if (const toml::node* n = t->get("path")) {
      c.error_log = r.string(*n, "error_log.path");
      if (c.error_log.empty()) r.fail(*n, "error_log.path", "a path, or \"stderr\"");
      if (c.error_log != "stderr") c.error_log = resolve_path(base, c.error_log);
    }
    if (const toml::node* n = t->get("level")) {
      std::string lv = r.string(*n, "error_log.level");
      if (lv == "debug")
        c.error_level = log::Level::kDebug;
      else if (lv == "info")
        c.error_level = log::Level::kInfo;
      else if (lv == "warn")
        c.error_level = log::Level::kWarn;
      else if (lv == "error")
        c.error_level = log::Level::kError;
      else
        r.fail(*n, "error_log.level", "want debug, info, warn or error");
    }
  }
  if (const toml::table* t = r.table(doc, "status", "")) {
    r.check_keys(*t, "status.", {"enabled", "path", "metrics_path", "allow"});
    if (const toml::node* n = t->get("enabled")) c.status_enabled = r.boolean(*n, "status.enabled");
    auto path = [&](const char* key, std::string& out) {
      if (const toml::node* n = t->get(key)) {
        out = r.string(*n, std::string("status.") + key);
        if (out.size() < 2 || out[0] != '/' || out.find_first_of("?#*: ") != std::string::npos)
          r.fail(*n, std::string("status.") + key, "want a path like /status");
      }
    };
    path("path", c.status_path);
    path("metrics_path", c.metrics_path);
    if (c.status_path == c.metrics_path)
      r.fail(*t, "status.metrics_path", "must differ from status.path");
    if (const toml::node* n = t->get("allow")) {
      c.status_allow.clear();
      for (const std::string& s : r.strings(*n, "status.allow", false)) {
        auto range = parse_address_range(s);
        if (!range) r.fail(*n, "status.allow", "bad address or block '" + s + "'");
        c.status_allow.push_back(*range);
      }
    }
  }
}

}  // namespace

std::optional<std::string> load_config(const std::string& path, const Overrides& overrides,
                                       Config& out) {
  Config c;
  c.source = path;
  c.plan.listen = {*net::InetAddress::parse("127.0.0.1:8080")};
  c.plan.shutdown_timeout = std::chrono::seconds(10);
  c.root = default_site_root();
  c.status_allow = {*parse_address_range("127.0.0.1"), *parse_address_range("::1")};
  try {
    if (!path.empty()) {
      toml::table doc;
      try {
        doc = toml::parse_file(path);
      } catch (const toml::parse_error& e) {
        const auto& where = e.source().begin;
        return path + ":" + std::to_string(where.line) + ":" + std::to_string(where.column) + ": " +
               std::string(e.description());
      }
      std::error_code ec;
      std::string base = fs::absolute(path, ec).parent_path().string();
      apply_file(Reader(path), doc, c, base);
    }
  } catch (const ConfigError& e) {
    return e.message;
  }
  if (overrides.root) {
    std::error_code ec;
    c.root = fs::absolute(*overrides.root, ec).lexically_normal().string();
    struct stat st {};
    if (::stat(c.root.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
      return "--root: '" + c.root + "' is not a directory";
  }
  if (!overrides.listen.empty()) {
    c.plan.listen.clear();
    for (const std::string& s : overrides.listen) {
      auto a = net::InetAddress::parse(s);
      if (!a) return "--listen: bad address '" + s + "': want ADDR:PORT or [V6ADDR]:PORT";
      c.plan.listen.push_back(*a);
    }
  }
  if (overrides.workers) {
    if (*overrides.workers == "auto") {
      c.workers_auto = true;
    } else {
      char* end = nullptr;
      long n = std::strtol(overrides.workers->c_str(), &end, 10);
      if (overrides.workers->empty() || *end != '\0' || n < 1 || n > kMaxWorkers)
        return "--workers: want 1.." + std::to_string(kMaxWorkers) + " or auto";
      c.plan.workers = static_cast<int>(n);
      c.workers_auto = false;
    }
  }
  if (overrides.pid_file) {
    std::error_code ec;
    c.pid_file = fs::absolute(*overrides.pid_file, ec).string();
  }
  if (c.workers_auto) c.plan.workers = std::min(online_cpus(), kMaxWorkers);
  if (c.root.size() > 1 && c.root.back() == '/') c.root.pop_back();
  out = std::move(c);
  return std::nullopt;
}

}  // namespace sluice::app
