// Test support: drives RequestParser and BodyDecoder over an input delivered
// in pieces, the way a connection would, and snapshots the outcome into
// owned strings so that runs with different splits can be compared.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sluice/http/body_decoder.h"
#include "sluice/http/request_parser.h"

namespace sluice::http::testing {

// Outcome::status for a request that never completed (the parser wants more).
inline constexpr int kIncomplete = -1;

struct Outcome {
  int status = 0;  // 0: complete and valid; kIncomplete; else the HTTP error
  std::string reason;
  std::string method;
  Method method_enum = Method::kOther;
  std::string target, path, query;
  TargetForm target_form = TargetForm::kOrigin;
  int version_minor = -1;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = false;
  bool expect_continue = false;
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;
  std::string body;
  std::size_t consumed = 0;  // head + body bytes used

  bool operator==(const Outcome&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Outcome& o) {
  os << "{status=" << o.status << " reason='" << o.reason << "' method=" << o.method
     << " target=" << o.target << " path=" << o.path << " query=" << o.query
     << " form=" << static_cast<int>(o.target_form) << " minor=" << o.version_minor
     << " keep_alive=" << o.keep_alive << " expect=" << o.expect_continue
     << " framing=" << static_cast<int>(o.framing) << " cl=" << o.content_length << " body='"
     << o.body << "' consumed=" << o.consumed << " headers=[";
  for (const auto& [n, v] : o.headers) os << n << ": " << v << "; ";
  return os << "]}";
}

// Feeds `input` in pieces ending at the given cut offsets (ascending, each
// <= input.size(); the rest follows as the last piece). Every parse() call
// sees a freshly allocated copy of the unconsumed bytes, so a parser that
// kept a pointer into an older buffer is caught by ASan.
inline Outcome run_request(std::string_view input, const ParserLimits& limits,
                           std::span<const std::size_t> cuts, std::uint64_t* scanned = nullptr) {
  Outcome out;
  RequestParser parser(limits);
  BodyDecoder decoder(limits);
  std::string pending;  // unconsumed input
  std::unique_ptr<char[]> copy;
  bool in_body = false;
  std::size_t fed = 0;
  for (std::size_t k = 0; k <= cuts.size(); ++k) {
    const std::size_t end = k < cuts.size() ? cuts[k] : input.size();
    if (end < fed) continue;
    pending.append(input.substr(fed, end - fed));
    fed = end;
    if (!in_body) {
      copy = std::make_unique<char[]>(pending.size() + 1);
      if (!pending.empty()) pending.copy(copy.get(), pending.size());
      const ParseResult r = parser.parse(std::string_view(copy.get(), pending.size()));
      if (r.status == ParseStatus::kError) {
        out.status = static_cast<int>(r.error);
        out.reason = std::string(r.reason);
        break;
      }
      if (r.status == ParseStatus::kNeedMore) continue;
      const Request& q = parser.request();
      out.method = std::string(q.method_name);
      out.method_enum = q.method;
      out.target = std::string(q.target);
      out.path = std::string(q.path);
      out.query = std::string(q.query);
      out.target_form = q.target_form;
      out.version_minor = q.version_minor;
      for (const Header& h : q.headers) out.headers.emplace_back(h.name, h.value);
      out.keep_alive = q.keep_alive;
      out.expect_continue = q.expect_continue;
      out.framing = q.framing;
      out.content_length = q.content_length;
      out.consumed = r.head_bytes;
      pending.erase(0, r.head_bytes);
      decoder.start(q);
      in_body = true;
    }
    bool done = false;
    bool error = false;
    for (;;) {
      const BodyResult b = decoder.decode(pending);
      if (b.status == BodyStatus::kError) {
        out.consumed = 0;  // how much framing was eaten before the error depends on the split
        out.status = static_cast<int>(b.error);
        out.reason = std::string(b.reason);
        error = true;
        break;
      }
      out.body.append(b.data);
      out.consumed += b.consumed;
      pending.erase(0, b.consumed);
      if (b.status == BodyStatus::kDone) done = true;
      if (b.status != BodyStatus::kData) break;
    }
    if (error) break;
    if (done) {
      if (scanned != nullptr) *scanned = parser.scanned_bytes();
      return out;
    }
  }
  if (scanned != nullptr) *scanned = parser.scanned_bytes();
  if (out.status == 0) out.status = kIncomplete;
  return out;
}

inline Outcome run_whole(std::string_view input, const ParserLimits& limits = {}) {
  return run_request(input, limits, {});
}

inline Outcome run_split_at(std::string_view input, std::size_t cut, const ParserLimits& limits) {
  const std::size_t cuts[] = {cut};
  return run_request(input, limits, cuts);
}

inline Outcome run_bytewise(std::string_view input, const ParserLimits& limits,
                            std::uint64_t* scanned = nullptr) {
  std::vector<std::size_t> cuts(input.size());
  for (std::size_t i = 0; i < cuts.size(); ++i) cuts[i] = i + 1;
  return run_request(input, limits, cuts, scanned);
}

}  // namespace sluice::http::testing
