// Limits of the HTTP/1.1 request parser and body decoder. Every field has a
// documented default, a config key (its name) and a reaction: see
// docs/http-parser.md. Plain value; copy it into each parser.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::http {

struct ParserLimits {
  // Bytes of the request line, without its CRLF. Crossing it: 414.
  std::size_t max_request_line = 8 * 1024;
  // Bytes of one header field line, without its CRLF. Crossing it: 431.
  std::size_t max_header_line = 8 * 1024;
  // Bytes of all header field lines together, each with its CRLF (not the
  // request line, not the empty line that ends the head). Crossing it: 431.
  std::size_t max_header_bytes = 32 * 1024;
  // Number of header field lines. Crossing it: 431.
  std::size_t max_headers = 100;
  // Empty lines (CRLF) ignored before a request line (RFC 9112 section 2.2).
  // Crossing it: 400.
  std::size_t max_leading_empty_lines = 8;
  // Body bytes, declared by Content-Length or the sum of chunk sizes.
  // Crossing it: 413.
  std::uint64_t max_body_size = 1024 * 1024;
  // Number of data chunks in a chunked body (the last chunk not counted).
  // Crossing it: 413.
  std::size_t max_chunk_count = 100'000;
  // Bytes of one chunk-size line with its extensions, without its CRLF.
  // Crossing it: 400.
  std::size_t max_chunk_line = 4 * 1024;
  // Bytes of the trailer section after the last chunk, each field line with
  // its CRLF (not the final empty line). Crossing it: 431.
  std::size_t max_trailer_bytes = 8 * 1024;
};

}  // namespace sluice::http
