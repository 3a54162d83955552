#include "access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "sluice/base/log.h"
#include "sluice/http/router.h"

namespace sluice::app {

namespace {

// Quoted fields escape '"', '\' and bytes outside printable ASCII as \xHH,
// so that a client cannot forge lines or terminal sequences.
void append_escaped(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  if (s.empty()) {
    out.push_back('-');
    return;
  }
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out.push_back(kHex[u >> 4]);
      out.push_back(kHex[u & 15]);
    } else {
      out.push_back(c);
    }
  }
}

}  // namespace

AccessLog::AccessLog(std::string path, bool with_time, std::size_t buffer_bytes)
    : path_(std::move(path)), with_time_(with_time), buffer_bytes_(buffer_bytes) {}

AccessLog::~AccessLog() { flush(); }

bool AccessLog::reopen() {
  int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::lock_guard lock(mu_);
  write_locked();  // what was buffered belongs to the old file
  fd_.reset(fd);
  return true;
}

namespace {
thread_local AccessLog::RequestInfo t_last;
}  // namespace

void AccessLog::note_request(const http::Request& head) {
  t_last.present = true;
  t_last.method.assign(head.method_name);
  t_last.target.assign(head.target);
  const http::Header* ref = head.find("Referer");
  t_last.referer.assign(ref ? ref->value : std::string_view{});
  const http::Header* ua = head.find("User-Agent");
  t_last.agent.assign(ua ? ua->value : std::string_view{});
  t_last.version_minor = head.version_minor;
}

void AccessLog::format(const http::LogRecord& r, const RequestInfo& info, bool with_time,
                       std::time_t now, std::string& out) {
  out += r.connection ? r.connection->peer_address().ip_string() : std::string("-");
  char when[64];
  std::tm tm{};
  ::localtime_r(&now, &tm);
  std::size_t n = std::strftime(when, sizeof when, " - - [%d/%b/%Y:%H:%M:%S %z] \"", &tm);
  out.append(when, n);
  if (info.present) {
    append_escaped(out, info.method);
    out.push_back(' ');
    append_escaped(out, info.target);
    out += info.version_minor == 0 ? " HTTP/1.0" : " HTTP/1.1";
  } else {
    out.push_back('-');
  }
  char nums[64];
  int k = std::snprintf(nums, sizeof nums, "\" %d %" PRIu64 " \"", r.status, r.body_bytes);
  out.append(nums, static_cast<std::size_t>(k));
  append_escaped(out, info.referer);
  out += "\" \"";
  append_escaped(out, info.agent);
  out.push_back('"');
  if (with_time) {
    std::int64_t us = r.duration_us < 0 ? 0 : r.duration_us;
    k = std::snprintf(nums, sizeof nums, " %" PRId64 ".%03" PRId64, us / 1'000'000,
                      (us / 1000) % 1000);
    out.append(nums, static_cast<std::size_t>(k));
  }
  out.push_back('\n');
}

void AccessLog::record(const http::LogRecord& record) {
  std::time_t now = std::time(nullptr);
  static const RequestInfo kNone;
  const RequestInfo& info = record.head && t_last.present ? t_last : kNone;
  {
    std::lock_guard lock(mu_);
    if (fd_) format(record, info, with_time_, now, buffer_);
    if (buffer_.size() >= buffer_bytes_) write_locked();
  }
  t_last.present = false;
}

void AccessLog::flush() {
  std::lock_guard lock(mu_);
  write_locked();
}

void AccessLog::write_locked() {
  if (buffer_.empty()) return;
  if (fd_) {
    std::size_t done = 0;
    while (done < buffer_.size()) {
      ssize_t n = ::write(fd_.get(), buffer_.data() + done, buffer_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        SLUICE_LOG_EVERY_MS(kError, 1000, "access log %s: write failed, lines lost", path_.c_str());
        break;
      }
      done += static_cast<std::size_t>(n);
    }
  }
  buffer_.clear();
}

}  // namespace sluice::app
