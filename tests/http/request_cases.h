// The table of requests shared by the parser tests, the differential test
// against libhttp-parser and the seed-corpus writer: each input with the
// exact outcome Sluice must produce.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "http_driver.h"
#include "sluice/http/limits.h"
#include "sluice/http/request_parser.h"

namespace sluice::http::testing {

struct RequestCase {
  std::string name;  // a C identifier, used as the gtest parameter name
  std::string input;
  int status = 0;  // 0: valid; kIncomplete; else the expected HTTP status
  ParserLimits limits;
  // Expectations for a valid request (status 0).
  std::string method;
  Method method_enum = Method::kOther;
  std::string target;
  std::optional<std::string> path, query;
  std::optional<TargetForm> form;
  int version_minor = 1;
  std::vector<std::pair<std::string, std::string>> headers;
  bool keep_alive = true;
  bool expect_continue = false;
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;
  std::string body;
  std::size_t trailing = 0;  // input bytes after the request (pipelining)
  bool differential = true;  // compare with libhttp-parser (valid cases only)

  // Fluent setters keep the table short.
  RequestCase& m(std::string v, Method e) {
    method = std::move(v);
    method_enum = e;
    return *this;
  }
  RequestCase& t(std::string v) {
    target = std::move(v);
    return *this;
  }
  RequestCase& pq(std::string p, std::string q) {
    path = std::move(p);
    query = std::move(q);
    return *this;
  }
  RequestCase& f(TargetForm v) {
    form = v;
    return *this;
  }
  RequestCase& v10() {
    version_minor = 0;
    keep_alive = false;
    return *this;
  }
  RequestCase& h(std::string n, std::string v) {
    headers.emplace_back(std::move(n), std::move(v));
    return *this;
  }
  RequestCase& ka(bool v) {
    keep_alive = v;
    return *this;
  }
  RequestCase& expect100() {
    expect_continue = true;
    return *this;
  }
  RequestCase& cl(std::uint64_t n, std::string b) {
    framing = BodyFraming::kContentLength;
    content_length = n;
    body = std::move(b);
    return *this;
  }
  RequestCase& chunked(std::string b) {
    framing = BodyFraming::kChunked;
    body = std::move(b);
    return *this;
  }
  RequestCase& trail(std::size_t n) {
    trailing = n;
    return *this;
  }
  RequestCase& lim(ParserLimits l) {
    limits = l;
    return *this;
  }
  RequestCase& nodiff() {
    differential = false;
    return *this;
  }
};

const std::vector<RequestCase>& request_cases();

// The outcome a valid case expects, in the driver's terms.
Outcome expected_outcome(const RequestCase& c);

}  // namespace sluice::http::testing
