#include "sluice/http/request_parser.h"

#include <algorithm>
#include <limits>

#include "sluice/http/chars.h"
#include "sluice/http/line_scan.h"

namespace sluice::http {
namespace {

// Offsets are 32-bit; clamping the limits keeps every head offset below 2^31.
constexpr std::size_t kMaxLineLimit = std::size_t{1} << 28;
constexpr std::size_t kMaxEmptyLines = std::size_t{1} << 20;

Method classify_method(std::string_view m) noexcept {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 5:
      if (m == "PATCH") return Method::kPatch;
      if (m == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "CONNECT") return Method::kConnect;
      if (m == "OPTIONS") return Method::kOptions;
      break;
    default: break;
  }
  return Method::kOther;
}

// authority-form (RFC 9112 section 3.2.3): uri-host ":" port, nothing else.
bool valid_authority_form(std::string_view t) noexcept {
  const std::size_t colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
  const std::string_view port = t.substr(colon + 1);
  if (port.size() > 5) return false;
  for (char c : port) {
    if (!chars::is_digit(c)) return false;
  }
  const std::string_view host = t.substr(0, colon);
  for (char c : host) {
    if (!chars::has(c, chars::kHost)) return false;
  }
  // An IP-literal is bracketed as a whole; otherwise no brackets or colons.
  if (host.front() == '[') return host.back() == ']' && host.size() > 2;
  return host.find_first_of("[]:") == std::string_view::npos;
}

std::uint32_t u32(std::size_t v) noexcept { return static_cast<std::uint32_t>(v); }

}  // namespace

const Header* Request::find(std::string_view name) const noexcept {
  for (const Header& h : headers) {
    if (chars::iequals(h.name, name)) return &h;
  }
  return nullptr;
}

RequestParser::RequestParser(const ParserLimits& limits) : limits_(limits) {
  limits_.max_request_line = std::min(limits_.max_request_line, kMaxLineLimit);
  limits_.max_header_line = std::min(limits_.max_header_line, kMaxLineLimit);
  limits_.max_header_bytes = std::min(limits_.max_header_bytes, kMaxLineLimit);
  limits_.max_leading_empty_lines = std::min(limits_.max_leading_empty_lines, kMaxEmptyLines);
  const std::size_t initial = std::min<std::size_t>(limits_.max_headers, 32);
  fields_.reserve(initial);
  headers_.reserve(initial);
}

void RequestParser::reset() noexcept {
  state_ = State::kRequestLine;
  pos_ = 0;
  line_start_ = 0;
  header_bytes_ = 0;
  empty_lines_ = 0;
  scanned_ = 0;
  result_ = ParseResult{};
  method_ = Method::kOther;
  method_span_ = target_span_ = path_span_ = query_span_ = Span{};
  target_form_ = TargetForm::kOrigin;
  version_minor_ = 1;
  host_count_ = 0;
  content_length_seen_ = false;
  content_length_ = 0;
  transfer_encoding_seen_ = false;
  chunked_seen_ = false;
  unsupported_coding_ = false;
  connection_close_ = false;
  connection_keep_alive_ = false;
  expect_continue_ = false;
  expect_unsupported_ = false;
  fields_.clear();
  headers_.clear();
  request_ = Request{};
}

bool RequestParser::set_error(StatusCode code, std::string_view reason) noexcept {
  state_ = State::kError;
  result_ = ParseResult{ParseStatus::kError, 0, code, reason};
  return false;
}

ParseResult RequestParser::fail(StatusCode code, std::string_view reason) noexcept {
  set_error(code, reason);
  return result_;
}

ParseResult RequestParser::parse(std::string_view buffer) noexcept {
  if (state_ == State::kDone || state_ == State::kError) return result_;
  const char* const base = buffer.data();
  const std::size_t size = buffer.size();
  for (;;) {
    // A line may hold at most `limit` bytes before its CR. The scan never
    // looks further than one byte past that, so the verdict on a line does
    // not depend on how the input was split.
    std::size_t limit = limits_.max_request_line;
    StatusCode too_long = StatusCode::kUriTooLong;
    if (state_ == State::kHeaderLine) {
      limit = std::min(limits_.max_header_line, limits_.max_header_bytes - header_bytes_);
      too_long = StatusCode::kRequestHeaderFieldsTooLarge;
    }
    const std::size_t window = std::size_t{line_start_} + limit + 1;
    const std::size_t scan_end = std::min(size, window);
    if (pos_ < scan_end) {
      const char* stop = detail::find_line_stop(base + pos_, base + scan_end);
      const auto scanned = static_cast<std::size_t>(stop - (base + pos_));
      scanned_ += scanned;
      pos_ += u32(scanned);
    }
    if (pos_ >= scan_end) {
      if (scan_end == window) {
        return fail(too_long, state_ == State::kRequestLine ? "request line too long"
                                                            : "header line too long");
      }
      return ParseResult{};
    }
    if (base[pos_] != '\r') {
      return fail(StatusCode::kBadRequest,
                  base[pos_] == '\n' ? "bare LF line ending" : "control character in line");
    }
    if (std::size_t{pos_} + 1 >= size) return ParseResult{};
    if (base[pos_ + 1] != '\n') return fail(StatusCode::kBadRequest, "bare CR");
    const std::uint32_t line_end = pos_;
    pos_ += 2;
    scanned_ += 2;
    if (state_ == State::kRequestLine) {
      if (line_end == line_start_) {
        if (++empty_lines_ > limits_.max_leading_empty_lines) {
          return fail(StatusCode::kBadRequest, "too many empty lines before request");
        }
      } else {
        if (!on_request_line(base, line_start_, line_end)) return result_;
        state_ = State::kHeaderLine;
      }
    } else if (line_end == line_start_) {
      finish_head(base);
      return result_;
    } else if (!on_header_line(base, line_start_, line_end)) {
      return result_;
    }
    line_start_ = pos_;
  }
}

bool RequestParser::on_request_line(const char* base, std::uint32_t begin,
                                    std::uint32_t end) noexcept {
  const char* const line = base + begin;
  const std::uint32_t len = end - begin;
  scanned_ += len;

  std::uint32_t i = 0;
  while (i < len && chars::is_token(line[i])) ++i;
  if (i == 0 || i == len || line[i] != ' ') {
    return set_error(StatusCode::kBadRequest, "invalid method");
  }
  method_span_ = {begin, i};
  method_ = classify_method(std::string_view(line, i));

  const std::uint32_t target_begin = ++i;
  std::uint32_t question = len;  // position of the first '?', len if none
  for (; i < len; ++i) {
    const char c = line[i];
    if (!chars::has(c, chars::kTarget)) break;
    if (c == '%') {
      if (i + 2 >= len || !chars::has(line[i + 1], chars::kHex) ||
          !chars::has(line[i + 2], chars::kHex)) {
        return set_error(StatusCode::kBadRequest, "invalid percent-encoding in target");
      }
      i += 2;
    } else if (c == '?' && question == len) {
      question = i;
    }
  }
  if (i == target_begin) return set_error(StatusCode::kBadRequest, "empty request target");
  if (i == len || line[i] != ' ') {
    return set_error(StatusCode::kBadRequest, "invalid character in request target");
  }
  const std::uint32_t target_end = i++;

  // HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive, then CRLF.
  const char* v = line + i;
  if (len - i != 8 || std::string_view(v, 5) != "HTTP/" || !chars::is_digit(v[5]) || v[6] != '.' ||
      !chars::is_digit(v[7])) {
    return set_error(StatusCode::kBadRequest, "malformed HTTP version");
  }
  if (v[5] != '1' || (v[7] != '0' && v[7] != '1')) {
    return set_error(StatusCode::kHttpVersionNotSupported, "unsupported HTTP version");
  }
  version_minor_ = v[7] - '0';

  const std::uint32_t tlen = target_end - target_begin;
  const std::string_view target(line + target_begin, tlen);
  target_span_ = {begin + target_begin, tlen};
  const std::uint32_t path_end = question < target_end ? question : target_end;
  if (question < target_end) query_span_ = {begin + question + 1, target_end - question - 1};

  if (method_ == Method::kConnect) {
    if (!valid_authority_form(target)) {
      return set_error(StatusCode::kBadRequest, "CONNECT needs an authority-form target");
    }
    target_form_ = TargetForm::kAuthority;
    query_span_ = Span{};
    return true;
  }
  if (target[0] == '/') {
    target_form_ = TargetForm::kOrigin;
    path_span_ = {begin + target_begin, path_end - target_begin};
    return true;
  }
  if (target == "*") {
    if (method_ != Method::kOptions) {
      return set_error(StatusCode::kBadRequest, "asterisk-form is only for OPTIONS");
    }
    target_form_ = TargetForm::kAsterisk;
    path_span_ = target_span_;
    return true;
  }
  // absolute-form: scheme ":" hier-part.
  std::uint32_t j = target_begin;
  if (!((line[j] >= 'a' && line[j] <= 'z') || (line[j] >= 'A' && line[j] <= 'Z'))) {
    return set_error(StatusCode::kBadRequest, "invalid request target");
  }
  while (j < path_end && chars::has(line[j], chars::kScheme)) ++j;
  if (j == path_end || line[j] != ':') {
    return set_error(StatusCode::kBadRequest, "invalid request target");
  }
  // Only URIs with an authority (scheme "://" authority), as http and https
  // have; "host:port" with a method other than CONNECT lands here and fails.
  ++j;
  if (path_end - j < 3 || line[j] != '/' || line[j + 1] != '/' || line[j + 2] == '/') {
    return set_error(StatusCode::kBadRequest, "absolute-form without authority");
  }
  j += 2;
  while (j < path_end && line[j] != '/') ++j;
  target_form_ = TargetForm::kAbsolute;
  path_span_ = {begin + j, path_end - j};
  return true;
}

bool RequestParser::on_header_line(const char* base, std::uint32_t begin,
                                   std::uint32_t end) noexcept {
  const char* const line = base + begin;
  const std::uint32_t len = end - begin;
  header_bytes_ += len + 2;
  if (header_bytes_ > limits_.max_header_bytes) {
    return set_error(StatusCode::kRequestHeaderFieldsTooLarge, "header section too large");
  }
  if (chars::is_ws(line[0])) {
    return set_error(StatusCode::kBadRequest, "obsolete line folding");
  }
  std::uint32_t i = 0;
  while (i < len && chars::is_token(line[i])) ++i;
  scanned_ += i;
  if (i == 0 || i == len || line[i] != ':') {
    return set_error(StatusCode::kBadRequest, "invalid header name");
  }
  const std::uint32_t name_len = i++;
  // The line scan already proved every byte is VCHAR, obs-text, SP or HTAB.
  while (i < len && chars::is_ws(line[i])) ++i;
  std::uint32_t value_end = len;
  while (value_end > i && chars::is_ws(line[value_end - 1])) --value_end;
  scanned_ += len - value_end;

  if (fields_.size() >= limits_.max_headers) {
    return set_error(StatusCode::kRequestHeaderFieldsTooLarge, "too many headers");
  }
  fields_.push_back(FieldSpan{{begin, name_len}, {begin + i, value_end - i}});

  const std::string_view name(line, name_len);
  const std::string_view value(line + i, value_end - i);
  switch (name_len) {
    case 4:
      if (chars::iequals_lower(name, "host")) {
        if (++host_count_ > 1) return set_error(StatusCode::kBadRequest, "more than one Host");
        for (char c : value) {
          if (!chars::has(c, chars::kHost)) {
            return set_error(StatusCode::kBadRequest, "invalid Host");
          }
        }
      }
      break;
    case 6:
      // RFC 9110 section 10.1.1: a 100-continue in HTTP/1.0 is ignored.
      if (version_minor_ == 1 && chars::iequals_lower(name, "expect") && !value.empty()) {
        if (chars::iequals_lower(value, "100-continue")) {
          expect_continue_ = true;
        } else {
          expect_unsupported_ = true;
        }
      }
      break;
    case 10:
      if (chars::iequals_lower(name, "connection")) on_connection(value);
      break;
    case 14:
      if (chars::iequals_lower(name, "content-length")) return on_content_length(value);
      break;
    case 17:
      if (chars::iequals_lower(name, "transfer-encoding")) return on_transfer_encoding(value);
      break;
    default: break;
  }
  return true;
}

// Content-Length = 1*DIGIT. A list of identical values ("5, 5") and repeated
// identical fields are accepted as one (RFC 9110 section 8.6); anything else
// that could be read two ways is rejected.
bool RequestParser::on_content_length(std::string_view value) noexcept {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::size_t i = 0;
  const std::size_t n = value.size();
  for (;;) {
    while (i < n && chars::is_ws(value[i])) ++i;
    const std::size_t digits_begin = i;
    std::uint64_t v = 0;
    while (i < n && chars::is_digit(value[i])) {
      const auto d = static_cast<std::uint64_t>(value[i] - '0');
      if (v > (kMax - d) / 10) return set_error(StatusCode::kBadRequest, "Content-Length overflow");
      v = v * 10 + d;
      ++i;
    }
    if (i == digits_begin) return set_error(StatusCode::kBadRequest, "invalid Content-Length");
    while (i < n && chars::is_ws(value[i])) ++i;
    if (content_length_seen_ && v != content_length_) {
      return set_error(StatusCode::kBadRequest, "conflicting Content-Length values");
    }
    content_length_seen_ = true;
    content_length_ = v;
    if (i == n) return true;
    if (value[i] != ',') return set_error(StatusCode::kBadRequest, "invalid Content-Length");
    ++i;
  }
}

// Transfer-Encoding = #transfer-coding. Only "chunked" is implemented, and it
// must be the final coding, once; any coding after it is a 400, and any other
// coding before it a 501 (checked when the head is complete).
bool RequestParser::on_transfer_encoding(std::string_view value) noexcept {
  transfer_encoding_seen_ = true;
  std::size_t i = 0;
  const std::size_t n = value.size();
  for (;;) {
    while (i < n && chars::is_ws(value[i])) ++i;
    const std::size_t coding_begin = i;
    while (i < n && chars::is_token(value[i])) ++i;
    const std::string_view coding = value.substr(coding_begin, i - coding_begin);
    if (coding.empty()) return set_error(StatusCode::kBadRequest, "invalid Transfer-Encoding");
    const bool is_chunked = chars::iequals_lower(coding, "chunked");
    if (chunked_seen_) {
      return set_error(StatusCode::kBadRequest,
                       is_chunked ? "chunked applied twice" : "chunked is not the final coding");
    }
    while (i < n && chars::is_ws(value[i])) ++i;
    const bool has_params = i < n && value[i] == ';';
    if (is_chunked) {
      if (has_params) return set_error(StatusCode::kBadRequest, "chunked takes no parameters");
      chunked_seen_ = true;
    } else {
      unsupported_coding_ = true;
      if (has_params) {
        while (i < n && value[i] != ',') ++i;
      }
    }
    if (i == n) return true;
    if (value[i] != ',') return set_error(StatusCode::kBadRequest, "invalid Transfer-Encoding");
    ++i;
  }
}

// Connection = #connection-option; only "close" and "keep-alive" matter here,
// other options (such as "upgrade") are ignored.
void RequestParser::on_connection(std::string_view value) noexcept {
  while (!value.empty()) {
    const std::size_t comma = value.find(',');
    const std::string_view option = chars::trim_ows(value.substr(0, comma));
    if (chars::iequals_lower(option, "close")) {
      connection_close_ = true;
    } else if (chars::iequals_lower(option, "keep-alive")) {
      connection_keep_alive_ = true;
    }
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

bool RequestParser::finish_head(const char* base) noexcept {
  if (version_minor_ == 1 && host_count_ == 0) {
    return set_error(StatusCode::kBadRequest, "missing Host");
  }
  BodyFraming framing = BodyFraming::kNone;
  if (transfer_encoding_seen_) {
    if (version_minor_ == 0) {
      return set_error(StatusCode::kBadRequest, "Transfer-Encoding in HTTP/1.0");
    }
    if (content_length_seen_) {
      return set_error(StatusCode::kBadRequest, "both Content-Length and Transfer-Encoding");
    }
    if (unsupported_coding_ || !chunked_seen_) {
      return set_error(StatusCode::kNotImplemented, "unsupported transfer coding");
    }
    framing = BodyFraming::kChunked;
  } else if (content_length_seen_) {
    if (content_length_ > limits_.max_body_size) {
      return set_error(StatusCode::kContentTooLarge, "body larger than max_body_size");
    }
    framing = BodyFraming::kContentLength;
  }
  if (expect_unsupported_) {
    return set_error(StatusCode::kExpectationFailed, "unsupported expectation");
  }

  set_views(base);
  request_.method = method_;
  request_.target_form = target_form_;
  request_.version_minor = version_minor_;
  request_.keep_alive = !connection_close_ && (version_minor_ == 1 || connection_keep_alive_);
  request_.expect_continue = expect_continue_;
  request_.framing = framing;
  request_.content_length = framing == BodyFraming::kContentLength ? content_length_ : 0;

  state_ = State::kDone;
  result_ = ParseResult{ParseStatus::kHeadersDone, pos_, StatusCode::kNone, {}};
  return true;
}

void RequestParser::set_views(const char* base) noexcept {
  const auto view = [base](Span s) { return std::string_view(base + s.begin, s.size); };
  headers_.clear();
  for (const FieldSpan& f : fields_) headers_.push_back(Header{view(f.name), view(f.value)});
  request_.method_name = view(method_span_);
  request_.target = view(target_span_);
  request_.path = view(path_span_);
  request_.query = view(query_span_);
  request_.headers = std::span<const Header>(headers_.data(), headers_.size());
}

void RequestParser::rebase(std::string_view buffer) noexcept {
  if (state_ == State::kDone) set_views(buffer.data());
}

}  // namespace sluice::http
