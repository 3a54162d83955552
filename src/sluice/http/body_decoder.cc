#include "sluice/http/body_decoder.h"

#include <algorithm>

#include "sluice/http/chars.h"

namespace sluice::http {

void BodyDecoder::start(BodyFraming framing, std::uint64_t content_length) noexcept {
  body_bytes_ = 0;
  chunks_ = 0;
  line_bytes_ = 0;
  size_digits_ = 0;
  trailer_bytes_ = 0;
  remaining_ = 0;
  error_ = BodyResult{};
  switch (framing) {
    case BodyFraming::kNone: state_ = State::kDone; break;
    case BodyFraming::kContentLength:
      if (content_length > limits_.max_body_size) {
        fail(StatusCode::kContentTooLarge, "body larger than max_body_size");
        break;
      }
      remaining_ = content_length;
      state_ = content_length == 0 ? State::kDone : State::kLength;
      break;
    case BodyFraming::kChunked: state_ = State::kSizeStart; break;
  }
}

BodyResult BodyDecoder::fail(StatusCode code, std::string_view reason) noexcept {
  state_ = State::kError;
  error_ = BodyResult{BodyStatus::kError, 0, {}, code, reason};
  return error_;
}

BodyResult BodyDecoder::decode(std::string_view input) noexcept {
  switch (state_) {
    case State::kDone: return BodyResult{BodyStatus::kDone, 0, {}, StatusCode::kNone, {}};
    case State::kError: return error_;
    case State::kLength: {
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
      remaining_ -= n;
      body_bytes_ += n;
      BodyResult r{BodyStatus::kNeedMore, n, input.substr(0, n), StatusCode::kNone, {}};
      if (remaining_ == 0) {
        state_ = State::kDone;
        r.status = BodyStatus::kDone;
      }
      return r;
    }
    default: return decode_chunked(input);
  }
}

BodyResult BodyDecoder::decode_chunked(std::string_view input) noexcept {
  const std::size_t n = input.size();
  std::size_t i = 0;
  while (i < n) {
    if (state_ == State::kData) {
      const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, n - i));
      const std::string_view piece = input.substr(i, take);
      i += take;
      remaining_ -= take;
      body_bytes_ += take;
      if (remaining_ == 0) state_ = State::kDataCr;
      return BodyResult{
          i == n ? BodyStatus::kNeedMore : BodyStatus::kData, i, piece, StatusCode::kNone, {}};
    }
    const char c = input[i++];
    if (state_ <= State::kExtAfterValue && c != '\r' && ++line_bytes_ > limits_.max_chunk_line) {
      return fail(StatusCode::kBadRequest, "chunk-size line too long");
    }
    switch (state_) {
      case State::kSizeStart:
      case State::kSize: {
        const int d = chars::hex_value(c);
        if (d >= 0) {
          if (++size_digits_ > 16) return fail(StatusCode::kBadRequest, "chunk size too long");
          // At most 16 hex digits fit in 64 bits, so this cannot overflow.
          remaining_ = remaining_ * 16 + static_cast<std::uint64_t>(d);
          if (remaining_ > limits_.max_body_size - body_bytes_) {
            return fail(StatusCode::kContentTooLarge, "body larger than max_body_size");
          }
          state_ = State::kSize;
          break;
        }
        if (state_ == State::kSizeStart) return fail(StatusCode::kBadRequest, "invalid chunk size");
        if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (chars::is_ws(c)) {
          state_ = State::kSizeSpace;
        } else {
          return fail(StatusCode::kBadRequest, "invalid chunk size");
        }
        break;
      }
      case State::kSizeSpace:
        if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (!chars::is_ws(c)) {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kExtNameStart:
        if (chars::is_token(c)) {
          state_ = State::kExtName;
        } else if (!chars::is_ws(c)) {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kExtName:
      case State::kExtAfterName:
        if (state_ == State::kExtName && chars::is_token(c)) break;
        if (chars::is_ws(c)) {
          state_ = State::kExtAfterName;
        } else if (c == '=') {
          state_ = State::kExtValueStart;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kExtValueStart:
        if (c == '"') {
          state_ = State::kExtQuoted;
        } else if (chars::is_token(c)) {
          state_ = State::kExtValueToken;
        } else if (!chars::is_ws(c)) {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kExtQuoted:
        if (c == '"') {
          state_ = State::kExtAfterValue;
        } else if (c == '\\') {
          state_ = State::kExtQuotedPair;
        } else if (!chars::has(c, chars::kQdText)) {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kExtQuotedPair:
        if (!chars::has(c, chars::kFieldChar)) {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        state_ = State::kExtQuoted;
        break;
      case State::kExtValueToken:
      case State::kExtAfterValue:
        if (state_ == State::kExtValueToken && chars::is_token(c)) break;
        if (chars::is_ws(c)) {
          state_ = State::kExtAfterValue;
        } else if (c == ';') {
          state_ = State::kExtNameStart;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else {
          return fail(StatusCode::kBadRequest, "invalid chunk extension");
        }
        break;
      case State::kSizeLf:
        if (c != '\n') return fail(StatusCode::kBadRequest, "chunk-size line without CRLF");
        line_bytes_ = 0;
        size_digits_ = 0;
        if (remaining_ == 0) {
          state_ = State::kTrailerStart;
        } else {
          if (++chunks_ > limits_.max_chunk_count) {
            return fail(StatusCode::kContentTooLarge, "more chunks than max_chunk_count");
          }
          state_ = State::kData;
        }
        break;
      case State::kDataCr:
        if (c != '\r') return fail(StatusCode::kBadRequest, "chunk data not followed by CRLF");
        state_ = State::kDataLf;
        break;
      case State::kDataLf:
        if (c != '\n') return fail(StatusCode::kBadRequest, "chunk data not followed by CRLF");
        state_ = State::kSizeStart;
        break;
      case State::kTrailerStart:
        if (c == '\r') {
          state_ = State::kFinalLf;
          break;
        }
        if (chars::is_ws(c)) return fail(StatusCode::kBadRequest, "obsolete line folding");
        if (!chars::is_token(c)) return fail(StatusCode::kBadRequest, "invalid trailer name");
        state_ = State::kTrailerName;
        if (++trailer_bytes_ > limits_.max_trailer_bytes) {
          return fail(StatusCode::kRequestHeaderFieldsTooLarge, "trailer section too large");
        }
        break;
      case State::kTrailerName:
        if (c == ':') {
          state_ = State::kTrailerValue;
        } else if (!chars::is_token(c)) {
          return fail(StatusCode::kBadRequest, "invalid trailer name");
        }
        if (++trailer_bytes_ > limits_.max_trailer_bytes) {
          return fail(StatusCode::kRequestHeaderFieldsTooLarge, "trailer section too large");
        }
        break;
      case State::kTrailerValue:
        if (c == '\r') {
          state_ = State::kTrailerLf;
        } else if (!chars::has(c, chars::kFieldChar)) {
          return fail(StatusCode::kBadRequest, "invalid trailer value");
        }
        if (++trailer_bytes_ > limits_.max_trailer_bytes) {
          return fail(StatusCode::kRequestHeaderFieldsTooLarge, "trailer section too large");
        }
        break;
      case State::kTrailerLf:
        if (c != '\n') return fail(StatusCode::kBadRequest, "trailer line without CRLF");
        if (++trailer_bytes_ > limits_.max_trailer_bytes) {
          return fail(StatusCode::kRequestHeaderFieldsTooLarge, "trailer section too large");
        }
        state_ = State::kTrailerStart;
        break;
      case State::kFinalLf:
        if (c != '\n') return fail(StatusCode::kBadRequest, "chunked body without final CRLF");
        state_ = State::kDone;
        return BodyResult{BodyStatus::kDone, i, {}, StatusCode::kNone, {}};
      case State::kLength:
      case State::kData:
      case State::kDone:
      case State::kError: break;  // handled before the switch
    }
  }
  return BodyResult{BodyStatus::kNeedMore, n, {}, StatusCode::kNone, {}};
}

}  // namespace sluice::http
