// Static files: request path -> file beneath the root -> response.
//
// Mapping: the path is percent-decoded once; NUL, bad escapes, invalid or
// overlong UTF-8 and a ".." that would climb above the root are 400; "." and
// ".." segments and repeated slashes are normalised. The file is opened with
// openat2(RESOLVE_BENEATH) relative to an O_PATH descriptor of the root, so
// no path and no symlink can leave the root (unless symlinks_outside_root);
// kernels without openat2 get the same rule from a check of the opened
// file's real path. 404 for what does not exist, 403 for what exists but may
// not be served (permissions, a symlink out of the root, a directory with no
// index and no listing, a device or FIFO), as nginx does.
//
// Open-file cache: descriptors and their stat figures are kept for
// `cache_valid`; after that the next request reopens and compares, so a hot
// file costs no open() and no stat() per request and a changed file is seen
// within `cache_valid`.
//
// Thread rules: serve() may run on several loops at once (the cache has a
// mutex; one loop per worker process is the default, so it is uncontended).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mime.h"
#include "sluice/base/clock.h"
#include "sluice/base/error.h"
#include "sluice/base/unique_fd.h"
#include "sluice/http/server.h"
#include "sluice/mem/output_buffer.h"

namespace sluice::app {

// Decodes and normalises a request path ("/a/./b/../c%20d/") into a path
// relative to the root ("a/c d"); `trailing_slash` tells whether the request
// named a directory. False: answer 400.
bool normalize_request_path(std::string_view raw, std::string& out, bool& trailing_slash);

// Percent-encodes a relative path for a URL (keeps '/' and unreserved bytes).
std::string encode_path(std::string_view path);
// Escapes & < > " ' for HTML text and attributes.
std::string html_escape(std::string_view text);

struct ByteRange {
  std::uint64_t first = 0;
  std::uint64_t last = 0;  // inclusive
};
enum class RangeKind {
  kIgnore,         // no Range, a syntax we ignore, or several ranges: send it all
  kSatisfiable,    // 206 with `range`
  kUnsatisfiable,  // 416
};
RangeKind parse_range(std::string_view header, std::uint64_t size, ByteRange& range);

// If-None-Match: "*" or a list of entity tags, compared weakly.
bool etag_list_matches(std::string_view header, std::string_view etag);

struct StaticOptions {
  std::string root;
  std::vector<std::string> index = {"index.html"};
  bool directory_listing = false;
  bool symlinks_outside_root = false;
  Millis cache_valid{1000};
  std::size_t cache_entries = 1024;
};

class StaticFiles {
 public:
  StaticFiles(StaticOptions options, const MimeTypes& mime);
  ~StaticFiles();
  StaticFiles(const StaticFiles&) = delete;
  StaticFiles& operator=(const StaticFiles&) = delete;

  // Opens the root (O_PATH); in the worker, after it dropped privileges.
  Status open_root();
  // Answers a GET or HEAD.
  void serve(http::ServerRequest& request, http::Response& response);

  struct CacheStats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;  // opened (first time, expired, or evicted)
  };
  CacheStats cache_stats() const;

 private:
  struct Entry {
    mem::SharedFile file;
    bool directory = false;
    dev_t dev = 0;
    ino_t ino = 0;
    std::uint64_t size = 0;
    std::time_t mtime = 0;
    long mtime_nsec = 0;
    std::string etag;
    std::string last_modified;
    std::int64_t checked_ms = 0;
  };
  using EntryPtr = std::shared_ptr<const Entry>;

  // The entry for `rel`, or a negative errno (-EACCES for files that are
  // neither regular nor directories).
  EntryPtr lookup(const std::string& rel, int& error);
  // Opens `rel` beneath the root; a descriptor or -errno.
  int open_beneath(const std::string& rel);
  void serve_file(http::ServerRequest& request, http::Response& response, const Entry& entry,
                  std::string_view name);
  void serve_listing(http::ServerRequest& request, http::Response& response, const Entry& entry,
                     const std::string& rel);
  void serve_error(http::Response& response, int status, std::string_view extra_name = {},
                   std::string_view extra_value = {});
  void serve_errno(http::Response& response, int error, const std::string& rel);

  StaticOptions options_;
  const MimeTypes& mime_;
  UniqueFd root_fd_;
  std::string root_real_;  // for the fallback check without openat2

  mutable std::mutex mu_;
  std::unordered_map<std::string, EntryPtr> cache_;
  CacheStats stats_;
};

}  // namespace sluice::app
