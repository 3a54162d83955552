// ResponseParser: an incremental HTTP/1.x response parser for the client side.
//
// Fed whatever bytes a read returned, it stops at the end of each response so
// the caller can account for it, and keeps only a small fixed state between
// calls: a line that straddles two reads is copied into a 128-byte line buffer
// (longer lines are kept truncated; only the status line and three headers are
// ever looked at), everything else is read in place. No allocation.
// Bodies: Content-Length (64-bit), chunked (extensions and trailers skipped),
// and read-until-close; no body for HEAD, 1xx, 204 and 304. Interim 1xx
// responses are skipped.
// Thread rules: one per connection, used on its loop's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sluice::bench {

class ResponseParser {
 public:
  enum class Outcome {
    kNeedMore,  // all bytes consumed, the response is not complete
    kComplete,  // a response ended after `consumed` bytes
    kError,     // malformed; error() says why; the connection must be closed
  };
  struct Step {
    Outcome outcome;
    std::size_t consumed;
  };

  static constexpr std::size_t kLineBuffer = 128;
  static constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

  // For a new connection (or after an error).
  void reset() noexcept;
  // Responses to HEAD carry no body.
  void set_head_request(bool head) noexcept { head_request_ = head; }

  // Consumes bytes up to the end of the current response at most.
  Step feed(const char* data, std::size_t size) noexcept;
  Step feed(std::string_view s) noexcept { return feed(s.data(), s.size()); }
  // The peer closed. True when that completes a read-until-close body;
  // false when a response was cut short (or none had started: see idle()).
  bool finish_on_eof() noexcept;
  // No byte of the next response has been seen.
  bool idle() const noexcept {
    return state_ == State::kStatusLine && line_size_ == 0 && !line_started_;
  }

  // Of the response that just completed.
  int status() const noexcept { return status_; }
  bool keep_alive() const noexcept { return keep_alive_; }
  std::uint64_t body_bytes() const noexcept { return body_bytes_; }
  const char* error() const noexcept { return error_; }

 private:
  enum class State {
    kStatusLine,
    kHeaderLine,
    kBodyLength,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailerLine,
    kBodyUntilClose,
  };

  // A whole line (without CR LF) from data[pos..], or false when it
  // continues past the end (the start is kept in line_).
  bool take_line(const char* data, std::size_t size, std::size_t& pos,
                 std::string_view& line) noexcept;
  bool on_status_line(std::string_view line) noexcept;
  bool on_header_line(std::string_view line) noexcept;
  bool on_headers_end() noexcept;  // false: error; sets state_ / complete_
  bool on_chunk_size(std::string_view line) noexcept;
  void start_response() noexcept;
  Step fail(const char* why, std::size_t pos) noexcept;
  Step complete(std::size_t pos) noexcept;

  State state_ = State::kStatusLine;
  bool head_request_ = false;
  bool line_started_ = false;  // bytes of the current line were seen
  bool complete_ = false;      // set by on_headers_end for bodiless responses
  bool chunked_ = false;
  bool has_length_ = false;
  bool keep_alive_ = true;
  bool http11_ = true;
  int status_ = 0;
  std::uint32_t line_size_ = 0;     // bytes in line_ (at most kLineBuffer)
  std::uint64_t header_bytes_ = 0;  // of the current response's head (or trailers)
  std::uint64_t remaining_ = 0;     // body or chunk bytes still to come
  std::uint64_t length_ = 0;
  std::uint64_t body_bytes_ = 0;
  const char* error_ = nullptr;
  char line_[kLineBuffer];
};

}  // namespace sluice::bench
