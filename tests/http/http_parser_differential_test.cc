// Differential test: every valid request of the table, parsed by
// libhttp-parser 2.x, gives the same method, URL, version, header fields and
// body as Sluice's parser. Cases marked nodiff() are where the two parsers
// deliberately differ (see docs/http-parser.md).
#include <gtest/gtest.h>
#include <http_parser.h>

#include <string>
#include <utility>
#include <vector>

#include "http_driver.h"
#include "request_cases.h"

namespace sluice::http {
namespace {

struct Collected {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<std::string, std::string>> trailers;  // Sluice drops these
  bool in_value = false;
  bool head_done = false;
  std::string body;
  bool complete = false;
};

Collected* state(http_parser* p) { return static_cast<Collected*>(p->data); }

int on_url(http_parser* p, const char* at, size_t len) {
  state(p)->url.append(at, len);
  return 0;
}
std::vector<std::pair<std::string, std::string>>& fields(Collected* c) {
  return c->head_done ? c->trailers : c->headers;
}
int on_header_field(http_parser* p, const char* at, size_t len) {
  Collected* c = state(p);
  if (fields(c).empty() || c->in_value) fields(c).emplace_back();
  c->in_value = false;
  fields(c).back().first.append(at, len);
  return 0;
}
int on_header_value(http_parser* p, const char* at, size_t len) {
  Collected* c = state(p);
  c->in_value = true;
  fields(c).back().second.append(at, len);
  return 0;
}
int on_headers_complete(http_parser* p) {
  state(p)->head_done = true;
  state(p)->in_value = false;
  return 0;
}
int on_body(http_parser* p, const char* at, size_t len) {
  state(p)->body.append(at, len);
  return 0;
}
int on_message_complete(http_parser* p) {
  state(p)->complete = true;
  http_parser_pause(p, 1);  // stop at the end of the first request
  return 0;
}

class Differential : public ::testing::TestWithParam<std::size_t> {};

// Only the valid cases marked for comparison; the invalid ones and the
// documented differences are not instantiated.
std::vector<std::size_t> differential_cases() {
  std::vector<std::size_t> out;
  const auto& all = testing::request_cases();
  for (std::size_t i = 0; i < all.size(); ++i)
    if (all[i].status == 0 && all[i].differential) out.push_back(i);
  return out;
}

TEST_P(Differential, AgreesWithLibHttpParser) {
  const testing::RequestCase& c = testing::request_cases()[GetParam()];
  const testing::Outcome ours = testing::run_whole(c.input, c.limits);
  ASSERT_EQ(ours.status, 0) << ours.reason;

  http_parser_settings settings;
  http_parser_settings_init(&settings);
  settings.on_url = on_url;
  settings.on_header_field = on_header_field;
  settings.on_header_value = on_header_value;
  settings.on_headers_complete = on_headers_complete;
  settings.on_body = on_body;
  settings.on_message_complete = on_message_complete;
  http_parser parser;
  http_parser_init(&parser, HTTP_REQUEST);
  Collected got;
  parser.data = &got;
  http_parser_execute(&parser, &settings, c.input.data(), c.input.size());
  const auto err = static_cast<http_errno>(parser.http_errno);
  ASSERT_TRUE(err == HPE_OK || err == HPE_PAUSED) << http_errno_name(err);
  ASSERT_TRUE(got.complete);

  EXPECT_EQ(http_method_str(static_cast<http_method>(parser.method)), ours.method);
  EXPECT_EQ(got.url, ours.target);
  EXPECT_EQ(parser.http_major, 1);
  EXPECT_EQ(parser.http_minor, ours.version_minor);
  // libhttp-parser keeps trailing whitespace of a value; RFC 9112 excludes it.
  for (auto& [name, value] : got.headers) {
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
  }
  EXPECT_EQ(got.headers, ours.headers);
  EXPECT_EQ(got.body, ours.body);
  EXPECT_EQ(http_should_keep_alive(&parser) != 0, ours.keep_alive);
}

INSTANTIATE_TEST_SUITE_P(Cases, Differential, ::testing::ValuesIn(differential_cases()),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           return testing::request_cases()[param.param].name;
                         });

}  // namespace
}  // namespace sluice::http
