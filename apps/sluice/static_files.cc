#include "static_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "sluice/base/log.h"
#include "sluice/http/date_cache.h"

namespace sluice::app {

namespace {

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Well-formed UTF-8 (RFC 3629): no overlong forms, no surrogates, <= U+10FFFF.
bool valid_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
      n = 1;
    else if (c == 0xE0)
      n = 2, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC)
      n = 2;
    else if (c == 0xED)
      n = 2, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF)
      n = 2;
    else if (c == 0xF0)
      n = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
      n = 3;
    else if (c == 0xF4)
      n = 3, hi = 0x8F;
    else
      return false;
    if (i + n >= s.size()) return false;
    auto b = static_cast<unsigned char>(s[i + 1]);
    if (b < lo || b > hi) return false;
    for (std::size_t k = 2; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if (cc < 0x80 || cc > 0xBF) return false;
    }
    i += n + 1;
  }
  return true;
}

bool parse_u64(std::string_view s, std::uint64_t& out) noexcept {
  if (s.empty() || s.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

std::string_view trim_ows(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string_view opaque_tag(std::string_view tag) noexcept {
  if (tag.size() >= 2 && tag[0] == 'W' && tag[1] == '/') tag.remove_prefix(2);
  return tag;
}

std::int64_t now_ms() noexcept { return monotonic_millis(); }

std::atomic<bool> g_no_openat2{false};

const char* reason(int status) noexcept {
  return reason_phrase(static_cast<http::StatusCode>(status)).data();
}

}  // namespace

bool normalize_request_path(std::string_view raw, std::string& out, bool& trailing_slash) {
  out.clear();
  trailing_slash = false;
  if (raw.empty() || raw[0] != '/') return false;
  std::string decoded;
  decoded.reserve(raw.size());
  for (std::size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '%') {
      if (i + 2 >= raw.size()) return false;
      int h = hex_value(raw[i + 1]);
      int l = hex_value(raw[i + 2]);
      if (h < 0 || l < 0) return false;
      c = static_cast<char>(h * 16 + l);
      i += 2;
    }
    if (c == '\0') return false;
    decoded.push_back(c);
  }
  if (!valid_utf8(decoded)) return false;
  // Segments; "." and empty ones vanish, ".." removes the previous one and
  // may not climb above the root.
  std::vector<std::string_view> segments;
  std::string_view rest(decoded);
  std::string_view last;
  while (!rest.empty()) {
    auto slash = rest.find('/');
    std::string_view seg = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    last = slash == std::string_view::npos ? seg : std::string_view{};
    if (seg.empty() || seg == ".") continue;
    if (seg == "..") {
      if (segments.empty()) return false;
      segments.pop_back();
      continue;
    }
    segments.push_back(seg);
  }
  trailing_slash = decoded.back() == '/' || last == "." || last == "..";
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (i) out.push_back('/');
    out.append(segments[i]);
  }
  if (out.empty()) trailing_slash = true;
  return true;
}

std::string encode_path(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    auto u = static_cast<unsigned char>(c);
    bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                u == '/' || u == '-' || u == '.' || u == '_' || u == '~';
    if (keep) {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    }
  }
  return out;
}

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

RangeKind parse_range(std::string_view header, std::uint64_t size, ByteRange& range) {
  header = trim_ows(header);
  if (header.size() < 6) return RangeKind::kIgnore;
  for (std::size_t i = 0; i < 6; ++i) {
    char c = header[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (c != "bytes="[i]) return RangeKind::kIgnore;
  }
  std::string_view spec = trim_ows(header.substr(6));
  if (spec.find(',') != std::string_view::npos) return RangeKind::kIgnore;
  auto dash = spec.find('-');
  if (dash == std::string_view::npos) return RangeKind::kIgnore;
  std::string_view a = trim_ows(spec.substr(0, dash));
  std::string_view b = trim_ows(spec.substr(dash + 1));
  if (a.empty()) {
    std::uint64_t n = 0;
    if (!parse_u64(b, n)) return RangeKind::kIgnore;
    if (n == 0 || size == 0) return RangeKind::kUnsatisfiable;
    range.first = n >= size ? 0 : size - n;
    range.last = size - 1;
    return RangeKind::kSatisfiable;
  }
  std::uint64_t first = 0;
  if (!parse_u64(a, first)) return RangeKind::kIgnore;
  std::uint64_t last = UINT64_MAX;
  if (!b.empty()) {
    if (!parse_u64(b, last)) return RangeKind::kIgnore;
    if (last < first) return RangeKind::kIgnore;
  }
  if (first >= size) return RangeKind::kUnsatisfiable;
  range.first = first;
  range.last = std::min(last, size - 1);
  return RangeKind::kSatisfiable;
}

bool etag_list_matches(std::string_view header, std::string_view etag) {
  header = trim_ows(header);
  if (header == "*") return true;
  std::string_view mine = opaque_tag(etag);
  while (!header.empty()) {
    auto comma = header.find(',');
    std::string_view tag = trim_ows(header.substr(0, comma));
    if (opaque_tag(tag) == mine) return true;
    if (comma == std::string_view::npos) break;
    header.remove_prefix(comma + 1);
  }
  return false;
}

StaticFiles::StaticFiles(StaticOptions options, const MimeTypes& mime)
    : options_(std::move(options)), mime_(mime) {}

StaticFiles::~StaticFiles() = default;

Status StaticFiles::open_root() {
  int fd = ::open(options_.root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_code();
  root_fd_.reset(fd);
  char buf[PATH_MAX];
  if (::realpath(options_.root.c_str(), buf) == nullptr) return errno_code();
  root_real_ = buf;
  return {};
}

StaticFiles::CacheStats StaticFiles::cache_stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

int StaticFiles::open_beneath(const std::string& rel) {
  const char* path = rel.empty() ? "." : rel.c_str();
  constexpr int kFlags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
  if (options_.symlinks_outside_root) {
    int fd = ::openat(root_fd_.get(), path, kFlags);
    return fd >= 0 ? fd : -errno;
  }
  if (!g_no_openat2.load(std::memory_order_relaxed)) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(kFlags);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    long fd = ::syscall(SYS_openat2, root_fd_.get(), path, &how, sizeof how);
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != ENOSYS) return -errno;
    g_no_openat2.store(true, std::memory_order_relaxed);
    SLUICE_LOG(kWarn, "openat2 is not available: checking real paths instead");
  }
  // No openat2: open, then ask the kernel where the descriptor really is.
  int fd = ::openat(root_fd_.get(), path, kFlags);
  if (fd < 0) return -errno;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char real[PATH_MAX];
  ssize_t n = ::readlink(link, real, sizeof real - 1);
  if (n < 0) {
    ::close(fd);
    return -EACCES;
  }
  std::string_view r(real, static_cast<std::size_t>(n));
  bool inside = r == root_real_ || (r.size() > root_real_.size() && r.starts_with(root_real_) &&
                                    (root_real_ == "/" || r[root_real_.size()] == '/'));
  if (!inside) {
    ::close(fd);
    return -EXDEV;
  }
  return fd;
}

StaticFiles::EntryPtr StaticFiles::lookup(const std::string& rel, int& error) {
  std::int64_t now = now_ms();
  EntryPtr old;
  {
    std::lock_guard lock(mu_);
    auto it = cache_.find(rel);
    if (it != cache_.end()) {
      if (now - it->second->checked_ms < options_.cache_valid.count()) {
        ++stats_.hits;
        return it->second;
      }
      old = it->second;
    }
    ++stats_.misses;
  }
  int fd = open_beneath(rel);
  if (fd < 0) {
    error = -fd;
    if (old) {
      std::lock_guard lock(mu_);
      cache_.erase(rel);
    }
    return nullptr;
  }
  UniqueFd owned(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    error = errno;
    return nullptr;
  }
  if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) {
    error = EACCES;
    return nullptr;
  }
  EntryPtr fresh;
  if (old && old->dev == st.st_dev && old->ino == st.st_ino &&
      old->size == static_cast<std::uint64_t>(st.st_size) && old->mtime == st.st_mtim.tv_sec &&
      old->mtime_nsec == st.st_mtim.tv_nsec) {
    auto e = std::make_shared<Entry>(*old);  // same file: keep its descriptor
    e->checked_ms = now;
    fresh = std::move(e);
  } else {
    auto e = std::make_shared<Entry>();
    e->directory = S_ISDIR(st.st_mode);
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->size = static_cast<std::uint64_t>(st.st_size);
    e->mtime = st.st_mtim.tv_sec;
    e->mtime_nsec = st.st_mtim.tv_nsec;
    char tag[64];
    std::snprintf(tag, sizeof tag, "\"%" PRIx64 "-%" PRIx64 "\"",
                  static_cast<std::uint64_t>(e->mtime), e->size);
    e->etag = tag;
    char date[32];
    e->last_modified = std::string(http::format_http_date(e->mtime, date));
    e->file = std::make_shared<const UniqueFd>(std::move(owned));
    e->checked_ms = now;
    fresh = std::move(e);
  }
  if (options_.cache_entries > 0) {
    std::lock_guard lock(mu_);
    if (cache_.size() >= options_.cache_entries && cache_.find(rel) == cache_.end()) {
      // Full: drop the expired entries; if none, drop one at random.
      for (auto it = cache_.begin(); it != cache_.end();) {
        if (now - it->second->checked_ms >= options_.cache_valid.count())
          it = cache_.erase(it);
        else
          ++it;
      }
      if (cache_.size() >= options_.cache_entries) cache_.erase(cache_.begin());
    }
    cache_[rel] = fresh;
  }
  return fresh;
}

void StaticFiles::serve_error(http::Response& response, int status, std::string_view extra_name,
                              std::string_view extra_value) {
  char body[256];
  int n = std::snprintf(body, sizeof body,
                        "<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n<center><h1>%d "
                        "%s</h1></center>\r\n<hr><center>sluice</center>\r\n</body>\r\n</html>\r\n",
                        status, reason(status), status, reason(status));
  response.status(status).header("Content-Type", "text/html; charset=utf-8");
  if (!extra_name.empty()) response.header(extra_name, extra_value);
  response.send(std::string_view(body, static_cast<std::size_t>(std::max(n, 0))));
}

void StaticFiles::serve_errno(http::Response& response, int error, const std::string& rel) {
  switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
      SLUICE_LOG(kDebug, "static: \"%s\" not found", rel.c_str());
      serve_error(response, 404);
      return;
    case EXDEV:
    case ELOOP:
      SLUICE_LOG_EVERY_MS(kWarn, 1000, "static: \"%s\" leaves the root: refused", rel.c_str());
      serve_error(response, 403);
      return;
    case EACCES:
    case EPERM:
      SLUICE_LOG_EVERY_MS(kInfo, 1000, "static: \"%s\" forbidden", rel.c_str());
      serve_error(response, 403);
      return;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
      SLUICE_LOG_EVERY_MS(kError, 1000, "static: cannot open \"%s\": %s", rel.c_str(),
                          std::strerror(error));
      serve_error(response, 503);
      return;
    default:
      SLUICE_LOG_EVERY_MS(kError, 1000, "static: cannot open \"%s\": %s", rel.c_str(),
                          std::strerror(error));
      serve_error(response, 500);
  }
}

void StaticFiles::serve(http::ServerRequest& request, http::Response& response) {
  std::string rel;
  bool trailing = false;
  if (!normalize_request_path(request.path(), rel, trailing)) {
    serve_error(response, 400);
    return;
  }
  int error = 0;
  EntryPtr entry = lookup(rel, error);
  if (!entry) {
    serve_errno(response, error, rel);
    return;
  }
  if (!entry->directory) {
    if (trailing) {
      serve_error(response, 404);
      return;
    }
    serve_file(request, response, *entry, rel);
    return;
  }
  if (!trailing) {
    // A directory named without its slash: send the client to the slash, with
    // a Location built from the normalised path (never "//host").
    std::string location = "/" + encode_path(rel) + "/";
    if (!request.query().empty()) {
      location.push_back('?');
      location.append(request.query());
    }
    serve_error(response, 301, "Location", location);
    return;
  }
  for (const std::string& index : options_.index) {
    std::string index_rel = rel.empty() ? index : rel + "/" + index;
    int index_error = 0;
    EntryPtr file = lookup(index_rel, index_error);
    if (file && !file->directory) {
      serve_file(request, response, *file, index_rel);
      return;
    }
    if (!file && index_error != ENOENT && index_error != ENOTDIR) {
      serve_errno(response, index_error, index_rel);
      return;
    }
  }
  if (options_.directory_listing) {
    serve_listing(request, response, *entry, rel);
    return;
  }
  SLUICE_LOG_EVERY_MS(kInfo, 1000, "static: directory index of \"%s/\" is forbidden", rel.c_str());
  serve_error(response, 403);
}

void StaticFiles::serve_file(http::ServerRequest& request, http::Response& response,
                             const Entry& entry, std::string_view name) {
  // The status goes first: Response writes the status line with the first header.
  // Conditionals (RFC 9110 section 13.2.2): If-None-Match wins over
  // If-Modified-Since.
  std::string_view inm = request.header("If-None-Match");
  bool not_modified = false;
  if (!inm.empty()) {
    not_modified = etag_list_matches(inm, entry.etag);
  } else if (std::string_view ims = request.header("If-Modified-Since"); !ims.empty()) {
    std::time_t t = http::parse_http_date(ims);
    not_modified = t != -1 && entry.mtime <= t;
  }
  if (not_modified) {
    response.status(304)
        .header("Last-Modified", entry.last_modified)
        .header("ETag", entry.etag)
        .send_head_only(0, false);
    return;
  }
  ByteRange range;
  RangeKind kind = RangeKind::kIgnore;
  std::string_view range_header = request.header("Range");
  if (!range_header.empty() && request.method() == http::Method::kGet) {
    bool use_range = true;
    if (std::string_view if_range = trim_ows(request.header("If-Range")); !if_range.empty()) {
      // An entity tag must match strongly; a date must be the exact Last-Modified.
      if (if_range.front() == '"' || if_range.starts_with("W/"))
        use_range = !if_range.starts_with("W/") && if_range == entry.etag;
      else
        use_range = http::parse_http_date(if_range) == entry.mtime;
    }
    if (use_range) kind = parse_range(range_header, entry.size, range);
  }
  char content_range[80];
  if (kind == RangeKind::kUnsatisfiable) {
    std::snprintf(content_range, sizeof content_range, "bytes */%" PRIu64, entry.size);
    serve_error(response, 416, "Content-Range", content_range);
    return;
  }
  response.status(kind == RangeKind::kSatisfiable ? 206 : 200)
      .header("Last-Modified", entry.last_modified)
      .header("ETag", entry.etag)
      .header("Content-Type", mime_.lookup(name))
      .header("Accept-Ranges", "bytes");
  if (kind == RangeKind::kSatisfiable) {
    std::snprintf(content_range, sizeof content_range, "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
                  range.first, range.last, entry.size);
    response.header("Content-Range", content_range);
    response.send_file(entry.file, static_cast<off_t>(range.first),
                       static_cast<std::size_t>(range.last - range.first + 1));
    return;
  }
  if (entry.size == 0) {
    response.send(std::string_view{});
    return;
  }
  response.send_file(entry.file, 0, static_cast<std::size_t>(entry.size));
}

void StaticFiles::serve_listing(http::ServerRequest&, http::Response& response, const Entry& entry,
                                const std::string& rel) {
  // A fresh open file description: the cached one's offset is shared.
  int dfd = ::openat(entry.file->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    serve_errno(response, errno, rel);
    return;
  }
  DIR* dir = ::fdopendir(dfd);
  if (!dir) {
    int err = errno;
    ::close(dfd);
    serve_errno(response, err, rel);
    return;
  }
  struct Item {
    std::string name;
    bool directory;
    std::uint64_t size;
    std::time_t mtime;
  };
  std::vector<Item> items;
  while (dirent* d = ::readdir(dir)) {
    std::string_view n = d->d_name;
    if (n == "." || n == "..") continue;
    struct stat st {};
    if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    items.push_back({std::string(n), S_ISDIR(st.st_mode), static_cast<std::uint64_t>(st.st_size),
                     st.st_mtim.tv_sec});
  }
  ::closedir(dir);
  std::sort(items.begin(), items.end(), [](const Item& a, const Item& b) {
    return a.directory != b.directory ? a.directory : a.name < b.name;
  });
  std::string title = html_escape("/" + rel + (rel.empty() ? "" : "/"));
  std::string body = "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of " +
                     title + "</title></head>\n<body>\n<h1>Index of " + title + "</h1><hr><pre>\n";
  if (!rel.empty()) body += "<a href=\"../\">../</a>\n";
  for (const Item& it : items) {
    std::string shown = it.name + (it.directory ? "/" : "");
    char date[32];
    std::string_view when = http::format_http_date(it.mtime, date);
    body += "<a href=\"" + html_escape(encode_path(it.name)) + (it.directory ? "/" : "") + "\">" +
            html_escape(shown) + "</a>  " + std::string(when) + "  " +
            (it.directory ? std::string("-") : std::to_string(it.size)) + "\n";
  }
  body += "</pre><hr></body>\n</html>\n";
  response.header("Content-Type", "text/html; charset=utf-8").send(body);
}

}  // namespace sluice::app
