// The HTTP/1.1 request head parser (RFC 9112): request line and header
// section, strict, incremental and zero-copy.
//
// Contract. parse(buffer) takes the connection's whole unconsumed input,
// starting at the first byte of the request: the same bytes as the previous
// call plus whatever arrived since. The buffer may move between calls (it is
// reallocated as it grows); the parser keeps offsets and resumes where it
// stopped, so a head arriving one byte at a time costs linear time. Once
// parse() returns kHeadersDone, request() holds string_views into the buffer
// of that last call: they stay valid while those head bytes stay in place.
// The head used result.head_bytes bytes; the body (see body_decoder.h) starts
// right after. After kHeadersDone or kError further calls return the same
// result until reset(), which prepares the object for the next request on
// the connection without giving back memory.
//
// Thread rules: one parser per connection, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "sluice/http/limits.h"
#include "sluice/http/status.h"

namespace sluice::http {

enum class Method : std::uint8_t {
  kOther,  // a valid token that is none of the below; see Request::method_name
  kGet,
  kHead,
  kPost,
  kPut,
  kDelete,
  kConnect,
  kOptions,
  kTrace,
  kPatch,
};

// RFC 9112 section 3.2.
enum class TargetForm : std::uint8_t { kOrigin, kAbsolute, kAuthority, kAsterisk };

// How the message body is delimited (RFC 9112 section 6.3).
enum class BodyFraming : std::uint8_t {
  kNone,           // no Content-Length, no Transfer-Encoding: no body
  kContentLength,  // Content-Length (possibly 0)
  kChunked,        // Transfer-Encoding: chunked
};

struct Header {
  std::string_view name;   // as sent (a token)
  std::string_view value;  // leading and trailing SP/HTAB removed
};

struct Request {
  Method method = Method::kOther;
  std::string_view method_name;  // as sent; methods are case-sensitive
  std::string_view target;       // the request-target as sent
  TargetForm target_form = TargetForm::kOrigin;
  // origin-form: the absolute-path; absolute-form: the path after the
  // authority (may be empty); asterisk-form: "*"; authority-form: empty.
  std::string_view path;
  std::string_view query;  // after the first '?', without it; empty if none
  int version_minor = 1;   // HTTP/1.<version_minor>: 0 or 1
  std::span<const Header> headers;
  bool keep_alive = false;       // derived from the version and Connection
  bool expect_continue = false;  // "Expect: 100-continue" in HTTP/1.1
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;  // with BodyFraming::kContentLength

  // The first header with this name (ASCII case-insensitive), or nullptr.
  const Header* find(std::string_view name) const noexcept;
};

enum class ParseStatus : std::uint8_t { kNeedMore, kHeadersDone, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t head_bytes = 0;            // kHeadersDone: bytes used by the head
  StatusCode error = StatusCode::kNone;  // kError: the status to answer with
  std::string_view reason;               // kError: static text for logs
};

class RequestParser {
 public:
  explicit RequestParser(const ParserLimits& limits = ParserLimits{});

  ParseResult parse(std::string_view buffer) noexcept;
  void reset() noexcept;
  // After kHeadersDone: the same head now lives in `buffer` (the caller's
  // buffer moved, e.g. grew while a body arrived); re-point request()'s views.
  void rebase(std::string_view buffer) noexcept;

  // Valid after parse() returned kHeadersDone.
  const Request& request() const noexcept { return request_; }
  const ParserLimits& limits() const noexcept { return limits_; }
  // Bytes examined since reset(), counted by the scanning loops; tests use it
  // to prove that incremental parsing never rescans.
  std::uint64_t scanned_bytes() const noexcept { return scanned_; }

 private:
  enum class State : std::uint8_t { kRequestLine, kHeaderLine, kDone, kError };
  struct Span {
    std::uint32_t begin = 0;
    std::uint32_t size = 0;
  };
  struct FieldSpan {
    Span name;
    Span value;
  };

  ParseResult fail(StatusCode code, std::string_view reason) noexcept;
  bool on_request_line(const char* base, std::uint32_t begin, std::uint32_t end) noexcept;
  bool on_header_line(const char* base, std::uint32_t begin, std::uint32_t end) noexcept;
  bool on_content_length(std::string_view value) noexcept;
  bool on_transfer_encoding(std::string_view value) noexcept;
  void on_connection(std::string_view value) noexcept;
  bool finish_head(const char* base) noexcept;
  void set_views(const char* base) noexcept;
  bool set_error(StatusCode code, std::string_view reason) noexcept;

  ParserLimits limits_;
  State state_ = State::kRequestLine;
  std::uint32_t pos_ = 0;         // next byte to scan
  std::uint32_t line_start_ = 0;  // first byte of the current line
  std::uint32_t header_bytes_ = 0;
  std::uint32_t empty_lines_ = 0;
  std::uint64_t scanned_ = 0;
  ParseResult result_;  // the final result once kDone or kError

  // Request line, as offsets until the head is complete.
  Method method_ = Method::kOther;
  Span method_span_, target_span_, path_span_, query_span_;
  TargetForm target_form_ = TargetForm::kOrigin;
  int version_minor_ = 1;

  // Semantics gathered from the fields, in order.
  std::uint32_t host_count_ = 0;
  bool content_length_seen_ = false;
  std::uint64_t content_length_ = 0;
  bool transfer_encoding_seen_ = false;
  bool chunked_seen_ = false;  // "chunked" was the last coding so far
  bool unsupported_coding_ = false;
  bool connection_close_ = false;
  bool connection_keep_alive_ = false;
  bool expect_continue_ = false;
  bool expect_unsupported_ = false;

  std::vector<FieldSpan> fields_;  // reused across requests
  std::vector<Header> headers_;    // views, built when the head is complete
  Request request_;
};

}  // namespace sluice::http
