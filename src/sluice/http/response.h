// Response: what a handler uses to answer one request.
//
// It writes straight into the connection's output buffer, so a response costs
// no allocation: the status line and the Server and Date headers first, then
// the handler's headers, then the framing (Content-Length, or chunked for a
// stream) and the Connection header the session decided, then the body —
// copied, borrowed, or a file range sent with sendfile. HEAD answers carry
// the same headers and no body.
// Call status() before header(): the status line is written with the first
// header, and a later status() is ignored (and logged).
// Header names must be tokens and values may not hold CR, LF or NUL: an
// invalid header is dropped, logged, and the answer becomes a 500 if nothing
// was sent yet (no response splitting).
// A handler that cannot answer at once calls defer() and answers later,
// from any thread, through the AsyncResponse; the connection answers nothing
// else meanwhile, so pipelined answers stay in order.
// Thread rules: Response lives on the connection's loop, for the handler
// call; AsyncResponse may be moved to and used from any thread.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/http/request_parser.h"
#include "sluice/http/status.h"
#include "sluice/mem/output_buffer.h"
#include "sluice/net/tcp_connection.h"

namespace sluice::http {

class Session;
struct AsyncState;

class AsyncResponse {
 public:
  AsyncResponse() = default;
  explicit AsyncResponse(std::shared_ptr<AsyncState> state) : state_(std::move(state)) {}
  // Answers with a complete response. Thread-safe; the first call wins.
  // Returns false when the client is already gone (the answer is dropped).
  bool send(int status, std::vector<std::pair<std::string, std::string>> headers, std::string body);
  bool valid() const noexcept { return static_cast<bool>(state_); }

 private:
  std::shared_ptr<AsyncState> state_;
};

class Response {
 public:
  Response(net::TcpConnection& conn, Session& session, bool close_after);

  Response& status(int code) noexcept;
  Response& status(StatusCode code) noexcept { return status(to_int(code)); }
  Response& header(std::string_view name, std::string_view value);
  // Ask for the connection to close after this response.
  Response& close_connection() noexcept;

  // A complete body.
  void send(std::string_view body);           // copied
  void send_borrowed(std::string_view body);  // must outlive the send (static text)
  void send_file(mem::SharedFile file, off_t offset, std::size_t length);
  // Only the head, with Content-Length: length (HEAD, 304, 204...).
  void send_head_only(std::uint64_t content_length, bool with_length = true);

  // A body of unknown length, chunked (HTTP/1.1) or delimited by close (1.0).
  void begin_stream();
  void write(std::string_view piece);
  void end_stream();

  // Answer later (see AsyncResponse); the handler returns without sending.
  AsyncResponse defer();

  bool started() const noexcept { return head_written_; }
  bool finished() const noexcept { return finished_; }
  bool deferred() const noexcept { return deferred_; }
  int status_code() const noexcept { return status_; }
  bool closes_connection() const noexcept { return close_after_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  bool head_request() const noexcept { return head_only_; }

 private:
  void write_head(const char* framing_name, std::string_view framing_value);
  Status append(std::string_view bytes);
  void put(std::string_view bytes);
  void flush_head();
  std::string_view status_prefix();

  net::TcpConnection& conn_;
  Session& session_;
  int status_ = 200;
  int version_minor_ = 1;
  bool close_after_;
  bool keep_alive_asked_;  // HTTP/1.0 with Connection: keep-alive
  bool head_only_;
  bool status_line_written_ = false;
  bool head_written_ = false;
  bool finished_ = false;
  bool deferred_ = false;
  bool streaming_ = false;
  bool failed_ = false;
  std::uint64_t body_bytes_ = 0;
  std::size_t head_len_ = 0;
  std::array<char, 512> head_buf_;
};

}  // namespace sluice::http
