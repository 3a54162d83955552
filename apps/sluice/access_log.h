// The access log: one line per answered request, in nginx's "combined"
// format, optionally followed by the request time in seconds
// ("combined_time", the default):
//   ADDR - - [10/Oct/2026:13:55:36 +0000] "GET / HTTP/1.1" 200 612 "REFERER" "AGENT" 0.001
// Lines are buffered and written with one write(2) when the buffer fills,
// at least every second (flush() from a timer), and at exit; reopen() opens
// the path again (USR1, after the file was rotated).
// Thread rules: every member is thread-safe (one mutex, held for a copy).
#pragma once

#include <ctime>
#include <mutex>
#include <string>

#include "sluice/base/unique_fd.h"
#include "sluice/http/server.h"

namespace sluice::app {

class AccessLog {
 public:
  AccessLog(std::string path, bool with_time, std::size_t buffer_bytes);
  ~AccessLog();  // flushes
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // What a line says of the request.
  struct RequestInfo {
    bool present = false;  // false: "-" (the request could not be parsed)
    std::string method, target, referer, agent;
    int version_minor = 1;
  };

  // Opens (or reopens) the file; false with errno set when it cannot.
  bool reopen();
  // Handlers call this before answering: it copies what the line needs.
  // Workaround: the HTTP core calls the logger after the request's bytes
  // were consumed, so LogRecord::head may point at freed memory; the logger
  // uses this copy (made on the same loop thread, just before) instead, and
  // writes "-" for answers no handler made (parse errors, 405).
  static void note_request(const http::Request& head);
  void record(const http::LogRecord& record);
  void flush();

  // One line, without the buffer (exposed for tests).
  static void format(const http::LogRecord& record, const RequestInfo& info, bool with_time,
                     std::time_t now, std::string& out);

 private:
  void write_locked();

  std::string path_;
  bool with_time_;
  std::size_t buffer_bytes_;
  std::mutex mu_;
  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace sluice::app
