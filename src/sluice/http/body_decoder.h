// Decodes a request body framed by Content-Length or chunked transfer coding
// (RFC 9112 sections 6 and 7.1), incrementally and without copying.
//
// Contract. Unlike RequestParser, the decoder consumes: decode(input) takes
// the unconsumed bytes that follow what it consumed before (the first call
// gets the bytes right after the head), and reports how many it used. The
// caller drops those bytes and calls again:
//
//   for (;;) {
//     BodyResult r = decoder.decode(in);
//     if (r.status == BodyStatus::kError) { answer r.error; close; }
//     deliver(r.data);               // a view into `in`, may be empty
//     in.remove_prefix(r.consumed);
//     if (r.status != BodyStatus::kData) break;   // kNeedMore or kDone
//   }
//
// Partial framing (half a chunk-size line) is held in the decoder's state,
// so nothing is rescanned. Chunk extensions are validated and ignored;
// trailer fields are validated, limited and dropped (RFC 9110 section 6.5.1
// allows a recipient to discard them). Bare LF is rejected here as in heads.
//
// Thread rules: one decoder per connection, used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sluice/http/limits.h"
#include "sluice/http/request_parser.h"
#include "sluice/http/status.h"

namespace sluice::http {

enum class BodyStatus : std::uint8_t {
  kData,      // a piece of body in `data`; more input is left: call again
  kNeedMore,  // all input consumed (data may hold a last piece): read more
  kDone,      // the body is complete; bytes after `consumed` are the next request
  kError,     // see `error` and `reason`; close the connection after answering
};

struct BodyResult {
  BodyStatus status = BodyStatus::kNeedMore;
  std::size_t consumed = 0;  // input bytes used, framing included
  std::string_view data;     // body bytes, inside the consumed part of the input
  StatusCode error = StatusCode::kNone;
  std::string_view reason;
};

class BodyDecoder {
 public:
  explicit BodyDecoder(const ParserLimits& limits = ParserLimits{}) : limits_(limits) {}

  // Starts a body; a decoder is reused across the requests of a connection.
  void start(BodyFraming framing, std::uint64_t content_length) noexcept;
  void start(const Request& request) noexcept { start(request.framing, request.content_length); }

  BodyResult decode(std::string_view input) noexcept;

  bool done() const noexcept { return state_ == State::kDone; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }  // delivered so far
  std::size_t chunk_count() const noexcept { return chunks_; }

 private:
  enum class State : std::uint8_t {
    kLength,        // Content-Length body
    kSizeStart,     // first hex digit of a chunk size
    kSize,          // more hex digits
    kSizeSpace,     // BWS after the size: only ";" may follow
    kExtNameStart,  // BWS, then the first tchar of an extension name
    kExtName,
    kExtAfterName,   // BWS, then "=", ";" or CR
    kExtValueStart,  // BWS, then a token or a quoted-string
    kExtValueToken,
    kExtQuoted,
    kExtQuotedPair,
    kExtAfterValue,  // BWS, then ";" or CR
    kSizeLf,         // LF ending a chunk-size line
    kData,
    kDataCr,
    kDataLf,
    kTrailerStart,  // start of a trailer line, or CR of the final empty line
    kTrailerName,
    kTrailerValue,
    kTrailerLf,
    kFinalLf,
    kDone,
    kError,
  };

  BodyResult fail(StatusCode code, std::string_view reason) noexcept;
  BodyResult decode_chunked(std::string_view input) noexcept;

  ParserLimits limits_;
  State state_ = State::kDone;
  std::uint64_t remaining_ = 0;   // of the Content-Length body or current chunk
  std::uint64_t body_bytes_ = 0;  // delivered so far
  std::size_t chunks_ = 0;
  std::size_t line_bytes_ = 0;  // of the current chunk-size line
  std::size_t size_digits_ = 0;
  std::size_t trailer_bytes_ = 0;
  BodyResult error_;
};

}  // namespace sluice::http
