#include "response_parser.h"

#include <algorithm>
#include <cstring>

namespace sluice::bench {
namespace {

char lower(char c) noexcept { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;  // b is lower case
  return true;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Does the comma-separated list hold `token` (lower case)?
bool has_token(std::string_view list, std::string_view token) noexcept {
  while (!list.empty()) {
    const auto comma = list.find(',');
    if (iequals(trim(list.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

// The last element of a comma-separated list.
std::string_view last_token(std::string_view list) noexcept {
  const auto comma = list.rfind(',');
  return trim(comma == std::string_view::npos ? list : list.substr(comma + 1));
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

}  // namespace

void ResponseParser::reset() noexcept {
  state_ = State::kStatusLine;
  line_started_ = false;
  line_size_ = 0;
  header_bytes_ = 0;
  complete_ = false;
  error_ = nullptr;
  status_ = 0;
}

void ResponseParser::start_response() noexcept {
  chunked_ = false;
  has_length_ = false;
  keep_alive_ = true;
  http11_ = true;
  length_ = 0;
  remaining_ = 0;
  body_bytes_ = 0;
  header_bytes_ = 0;
  complete_ = false;
  status_ = 0;
}

ResponseParser::Step ResponseParser::fail(const char* why, std::size_t pos) noexcept {
  error_ = why;
  return {Outcome::kError, pos};
}

ResponseParser::Step ResponseParser::complete(std::size_t pos) noexcept {
  state_ = State::kStatusLine;
  line_started_ = false;
  line_size_ = 0;
  return {Outcome::kComplete, pos};
}

bool ResponseParser::take_line(const char* data, std::size_t size, std::size_t& pos,
                               std::string_view& line) noexcept {
  const char* start = data + pos;
  const std::size_t avail = size - pos;
  const void* found = std::memchr(start, '\n', avail);
  const std::size_t piece =
      found ? static_cast<std::size_t>(static_cast<const char*>(found) - start) : avail;
  header_bytes_ += piece + 1;
  if (!found) {
    // Keep the start of the line for the next read.
    const std::size_t room = kLineBuffer - line_size_;
    const std::size_t keep = std::min(room, piece);
    std::memcpy(line_ + line_size_, start, keep);
    line_size_ += static_cast<std::uint32_t>(keep);
    line_started_ = true;
    pos = size;
    return false;
  }
  pos += piece + 1;
  if (line_size_ == 0 && !line_started_) {
    line = std::string_view(start, piece);  // in place, the common case
  } else {
    const std::size_t room = kLineBuffer - line_size_;
    const std::size_t keep = std::min(room, piece);
    std::memcpy(line_ + line_size_, start, keep);
    line_size_ += static_cast<std::uint32_t>(keep);
    line = std::string_view(line_, line_size_);
    line_size_ = 0;
    line_started_ = false;
  }
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return true;
}

bool ResponseParser::on_status_line(std::string_view line) noexcept {
  // "HTTP/1.1 200 OK": version, one space, three digits, then anything.
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || !is_digit(line[5]) ||
      line[6] != '.' || !is_digit(line[7]) || line[8] != ' ' || !is_digit(line[9]) ||
      !is_digit(line[10]) || !is_digit(line[11]) || (line.size() > 12 && line[12] != ' '))
    return false;
  http11_ = line[5] > '1' || (line[5] == '1' && line[7] >= '1');
  keep_alive_ = http11_;
  status_ = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  return status_ >= 100;
}

bool ResponseParser::on_header_line(std::string_view line) noexcept {
  const auto colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  const std::string_view name = line.substr(0, colon);
  if (name.back() == ' ' || name.back() == '\t') return false;  // RFC 9112: no space before ':'
  const std::string_view value = trim(line.substr(colon + 1));
  if (iequals(name, "content-length")) {
    if (value.empty()) return false;
    std::uint64_t n = 0;
    for (char c : value) {
      if (!is_digit(c)) return false;
      const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
      if (n > (~std::uint64_t{0} - digit) / 10) return false;
      n = n * 10 + digit;
    }
    if (has_length_ && n != length_) return false;  // conflicting lengths
    has_length_ = true;
    length_ = n;
  } else if (iequals(name, "transfer-encoding")) {
    chunked_ = iequals(last_token(value), "chunked");
    if (!chunked_) return false;  // only chunked can be delimited by a client
  } else if (iequals(name, "connection")) {
    if (has_token(value, "close"))
      keep_alive_ = false;
    else if (has_token(value, "keep-alive"))
      keep_alive_ = true;
  }
  return true;
}

bool ResponseParser::on_headers_end() noexcept {
  if (status_ < 200) {  // interim response: the real one follows
    state_ = State::kStatusLine;
    return true;
  }
  if (head_request_ || status_ == 204 || status_ == 304) {
    complete_ = true;
  } else if (chunked_) {
    state_ = State::kChunkSize;  // Transfer-Encoding wins over Content-Length
  } else if (has_length_) {
    remaining_ = length_;
    if (length_ == 0)
      complete_ = true;
    else
      state_ = State::kBodyLength;
  } else {
    keep_alive_ = false;  // delimited by the close
    state_ = State::kBodyUntilClose;
  }
  return true;
}

bool ResponseParser::on_chunk_size(std::string_view line) noexcept {
  std::uint64_t n = 0;
  std::size_t i = 0;
  for (; i < line.size(); ++i) {
    const char c = line[i];
    int digit;
    if (c >= '0' && c <= '9')
      digit = c - '0';
    else if (c >= 'a' && c <= 'f')
      digit = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      digit = c - 'A' + 10;
    else
      break;
    if (n >> 60) return false;
    n = n * 16 + static_cast<std::uint64_t>(digit);
  }
  if (i == 0) return false;
  if (i < line.size() && line[i] != ';' && line[i] != ' ' && line[i] != '\t') return false;
  remaining_ = n;
  state_ = n == 0 ? State::kTrailerLine : State::kChunkData;
  if (n == 0) header_bytes_ = 0;  // the trailers get their own allowance
  return true;
}

ResponseParser::Step ResponseParser::feed(const char* data, std::size_t size) noexcept {
  std::size_t pos = 0;
  std::string_view line;
  while (pos < size) {
    switch (state_) {
      case State::kStatusLine:
        if (line_size_ == 0 && !line_started_) start_response();
        if (!take_line(data, size, pos, line)) break;
        if (line.empty()) {
          // A stray CRLF before a response (tolerated, RFC 9112 2.2).
          header_bytes_ = 0;
          continue;
        }
        if (!on_status_line(line)) return fail("bad status line", pos);
        state_ = State::kHeaderLine;
        continue;
      case State::kHeaderLine:
      case State::kTrailerLine: {
        const bool trailer = state_ == State::kTrailerLine;
        if (!take_line(data, size, pos, line)) {
          if (header_bytes_ > kMaxHeaderBytes) return fail("response head too large", pos);
          break;
        }
        if (header_bytes_ > kMaxHeaderBytes) return fail("response head too large", pos);
        if (line.empty()) {
          if (trailer) return complete(pos);
          on_headers_end();
          if (complete_) return complete(pos);
          if (state_ == State::kStatusLine) status_ = 0;  // after a 1xx
          continue;
        }
        if (!trailer && !on_header_line(line)) return fail("bad response header", pos);
        continue;
      }
      case State::kBodyLength: {
        const std::uint64_t take = std::min<std::uint64_t>(remaining_, size - pos);
        pos += static_cast<std::size_t>(take);
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) return complete(pos);
        continue;
      }
      case State::kChunkSize:
        if (!take_line(data, size, pos, line)) break;
        if (!on_chunk_size(line)) return fail("bad chunk size", pos);
        continue;
      case State::kChunkData: {
        const std::uint64_t take = std::min<std::uint64_t>(remaining_, size - pos);
        pos += static_cast<std::size_t>(take);
        remaining_ -= take;
        body_bytes_ += take;
        if (remaining_ == 0) state_ = State::kChunkDataEnd;
        continue;
      }
      case State::kChunkDataEnd:
        if (!take_line(data, size, pos, line)) break;
        if (!line.empty()) return fail("chunk not followed by CRLF", pos);
        state_ = State::kChunkSize;
        continue;
      case State::kBodyUntilClose:
        body_bytes_ += size - pos;
        pos = size;
        continue;
    }
  }
  return {Outcome::kNeedMore, pos};
}

bool ResponseParser::finish_on_eof() noexcept {
  if (state_ == State::kBodyUntilClose) {
    state_ = State::kStatusLine;
    line_started_ = false;
    line_size_ = 0;
    return true;
  }
  return false;
}

}  // namespace sluice::bench
