#include "mime.h"

#include <array>
#include <utility>

namespace sluice::app {

namespace {

// Text types carry a charset: the bundled site and most sites are UTF-8.
constexpr std::array<std::pair<std::string_view, std::string_view>, 56> kBuiltin = {{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"map", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"rss", "application/rss+xml"},
    {"atom", "application/atom+xml"},
    {"svg", "image/svg+xml"},
    {"svgz", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"bmp", "image/bmp"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"otf", "font/otf"},
    {"eot", "application/vnd.ms-fontobject"},
    {"wasm", "application/wasm"},
    {"pdf", "application/pdf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tgz", "application/gzip"},
    {"bz2", "application/x-bzip2"},
    {"xz", "application/x-xz"},
    {"zst", "application/zstd"},
    {"tar", "application/x-tar"},
    {"7z", "application/x-7z-compressed"},
    {"rar", "application/vnd.rar"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"oga", "audio/ogg"},
    {"wav", "audio/wav"},
    {"flac", "audio/flac"},
    {"m4a", "audio/mp4"},
    {"mp4", "video/mp4"},
    {"m4v", "video/mp4"},
    {"webm", "video/webm"},
    {"ogv", "video/ogg"},
    {"mov", "video/quicktime"},
    {"avi", "video/x-msvideo"},
    {"webmanifest", "application/manifest+json"},
    {"ics", "text/calendar; charset=utf-8"},
    {"iso", "application/octet-stream"},
}};

char lower(char c) noexcept { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

MimeTypes::MimeTypes(const std::map<std::string, std::string>& extra, std::string default_type)
    : default_type_(std::move(default_type)) {
  for (auto [ext, type] : kBuiltin) table_.emplace(std::string(ext), std::string(type));
  for (const auto& [ext, type] : extra) table_[ext] = type;
}

std::string_view MimeTypes::lookup(std::string_view file_name) const noexcept {
  auto slash = file_name.rfind('/');
  if (slash != std::string_view::npos) file_name.remove_prefix(slash + 1);
  auto dot = file_name.rfind('.');
  if (dot == std::string_view::npos || dot + 1 == file_name.size()) return default_type_;
  std::string_view ext = file_name.substr(dot + 1);
  char buf[16];
  if (ext.size() > sizeof buf) return default_type_;
  for (std::size_t i = 0; i < ext.size(); ++i) buf[i] = lower(ext[i]);
  auto it = table_.find(std::string_view(buf, ext.size()));
  return it == table_.end() ? std::string_view(default_type_) : std::string_view(it->second);
}

}  // namespace sluice::app
