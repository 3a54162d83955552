#include "sluice/http/request_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http_driver.h"
#include "request_cases.h"
#include "sluice/http/line_scan.h"

namespace sluice::http {
namespace {

using testing::expected_outcome;
using testing::kIncomplete;
using testing::Outcome;
using testing::request_cases;
using testing::RequestCase;
using testing::run_bytewise;
using testing::run_split_at;
using testing::run_whole;

std::vector<ScanImpl> available_impls() {
  std::vector<ScanImpl> v{ScanImpl::kScalar};
  if (avx2_supported()) v.push_back(ScanImpl::kAvx2);
  return v;
}

const char* impl_name(ScanImpl impl) { return impl == ScanImpl::kAvx2 ? "avx2" : "scalar"; }

// Restores automatic scanner selection when a test ends.
class ScanImplGuard {
 public:
  ScanImplGuard() = default;
  ~ScanImplGuard() { set_scan_impl(avx2_supported() ? ScanImpl::kAvx2 : ScanImpl::kScalar); }
  ScanImplGuard(const ScanImplGuard&) = delete;
  ScanImplGuard& operator=(const ScanImplGuard&) = delete;
};

class RequestTable : public ::testing::TestWithParam<std::size_t> {};

// The request, whole, gives exactly the outcome written in the table; split
// at every byte boundary, and fed one byte at a time, it gives the same
// outcome (reason included), with both scanners.
TEST_P(RequestTable, OutcomeIsExactAndSplitInvariant) {
  const RequestCase& c = request_cases()[GetParam()];
  ScanImplGuard guard;
  const Outcome want = expected_outcome(c);
  Outcome first;
  for (ScanImpl impl : available_impls()) {
    SCOPED_TRACE(impl_name(impl));
    ASSERT_EQ(set_scan_impl(impl), impl);
    const Outcome whole = run_whole(c.input, c.limits);
    if (c.status == 0) {
      Outcome got = whole;
      EXPECT_EQ(got, want);
    } else {
      EXPECT_EQ(whole.status, c.status) << whole;
    }
    if (impl == ScanImpl::kScalar) {
      first = whole;
    } else {
      EXPECT_EQ(whole, first) << "scanners disagree";
    }
    for (std::size_t cut = 0; cut <= c.input.size(); ++cut) {
      const Outcome split = run_split_at(c.input, cut, c.limits);
      ASSERT_EQ(split, whole) << "split at " << cut;
    }
    EXPECT_EQ(run_bytewise(c.input, c.limits), whole) << "one byte at a time";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, RequestTable,
                         ::testing::Range<std::size_t>(0, request_cases().size()),
                         [](const ::testing::TestParamInfo<std::size_t>& param) {
                           return request_cases()[param.param].name;
                         });

TEST(RequestTableShape, HasAtLeast150CasesWithUniqueNames) {
  const auto& cases = request_cases();
  EXPECT_GE(cases.size(), 150u);
  std::size_t valid = 0;
  for (std::size_t i = 0; i < cases.size(); ++i) {
    if (cases[i].status == 0) ++valid;
    for (std::size_t j = 0; j < i; ++j) EXPECT_NE(cases[i].name, cases[j].name);
  }
  EXPECT_GE(valid, 60u);
}

// The AVX2 and scalar scanners stop at the same byte on random lines mixing
// the bytes that matter (CTLs, DEL, HTAB, SP, obs-text) at every alignment.
TEST(LineScan, Avx2MatchesScalarOnRandomInput) {
  if (!avx2_supported()) GTEST_SKIP() << "CPU without AVX2";
  std::mt19937 rng(12345);
  const char specials[] = {'\0', '\t', '\n', '\r', 0x1f, 0x7f, ' ', '~', '\x80', '\xff', 'a'};
  for (int round = 0; round < 20000; ++round) {
    const std::size_t len = rng() % 100;
    std::string s(len + 8, 'x');
    for (char& ch : s) {
      ch = (rng() % 8 == 0) ? specials[rng() % sizeof specials]
                            : static_cast<char>(0x20 + rng() % 95);
    }
    const std::size_t off = rng() % 8;
    const char* b = s.data() + off;
    const char* e = b + len;
    ASSERT_EQ(detail::find_line_stop_avx2(b, e), detail::find_line_stop_scalar(b, e))
        << "round " << round;
  }
}

TEST(LineScan, StopsOnlyOnForbiddenBytes) {
  for (int c = 0; c < 256; ++c) {
    const char ch = static_cast<char>(c);
    const bool allowed = c == '\t' || (c >= 0x20 && c != 0x7f);
    for (std::size_t len : {1u, 17u, 40u}) {
      std::string s(len, 'a');
      s[len - 1] = ch;
      const char* stop_scalar = detail::find_line_stop_scalar(s.data(), s.data() + s.size());
      EXPECT_EQ(stop_scalar == s.data() + s.size(), allowed) << c;
      if (avx2_supported()) {
        EXPECT_EQ(detail::find_line_stop_avx2(s.data(), s.data() + s.size()), stop_scalar) << c;
      }
    }
  }
}

// Fed one byte at a time, a 30 KiB header section is scanned in linear total
// work: the parser resumes where it stopped instead of starting over.
TEST(RequestParser, ByteAtATimeIsLinear) {
  std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
  int i = 0;
  while (req.size() < 30 * 1024) {
    req += "X-Header-" + std::to_string(i++) + ": " + std::string(200, 'v') + "\r\n";
  }
  req += "\r\n";
  ParserLimits limits;
  limits.max_header_bytes = 64 * 1024;
  limits.max_headers = 1000;
  for (ScanImpl impl : available_impls()) {
    ScanImplGuard guard;
    set_scan_impl(impl);
    std::uint64_t scanned_whole = 0;
    const Outcome whole = testing::run_request(req, limits, {}, &scanned_whole);
    ASSERT_EQ(whole.status, 0) << whole.reason;
    std::uint64_t scanned_bytewise = 0;
    ASSERT_EQ(run_bytewise(req, limits, &scanned_bytewise), whole);
    EXPECT_LE(scanned_whole, 2 * req.size());
    EXPECT_LE(scanned_bytewise, 2 * req.size()) << impl_name(impl);
  }
}

TEST(RequestParser, ViewsPointIntoTheCallersBuffer) {
  const std::string buf = "GET /p?q HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\nrest";
  RequestParser p;
  const ParseResult r = p.parse(buf);
  ASSERT_EQ(r.status, ParseStatus::kHeadersDone);
  EXPECT_EQ(r.head_bytes, buf.size() - 4);
  const Request& q = p.request();
  EXPECT_EQ(q.target.data(), buf.data() + 4);
  EXPECT_EQ(q.path.data(), buf.data() + 4);
  EXPECT_EQ(q.query.data(), buf.data() + 7);
  ASSERT_EQ(q.headers.size(), 2u);
  EXPECT_EQ(q.headers[1].value.data(), buf.data() + buf.find("y\r\n"));
}

TEST(RequestParser, FindIsCaseInsensitive) {
  RequestParser p;
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\ncontent-TYPE: text/plain\r\n\r\n").status,
            ParseStatus::kHeadersDone);
  const Header* h = p.request().find("Content-Type");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->value, "text/plain");
  EXPECT_EQ(p.request().find("Content-Length"), nullptr);
}

TEST(RequestParser, ResultIsStableUntilReset) {
  RequestParser p;
  const std::string a = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n";
  ASSERT_EQ(p.parse(a).status, ParseStatus::kHeadersDone);
  EXPECT_EQ(p.parse(a + "junk").head_bytes, a.size());
  p.reset();
  EXPECT_EQ(p.scanned_bytes(), 0u);
  ASSERT_EQ(p.parse("BAD\r\n").status, ParseStatus::kError);
  EXPECT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n").status, ParseStatus::kError);
  p.reset();
  const ParseResult r = p.parse("POST /b HTTP/1.0\r\nContent-Length: 1\r\n\r\nx");
  ASSERT_EQ(r.status, ParseStatus::kHeadersDone);
  EXPECT_EQ(p.request().method, Method::kPost);
  EXPECT_EQ(p.request().target, "/b");
  EXPECT_EQ(p.request().version_minor, 0);
  EXPECT_EQ(p.request().content_length, 1u);
}

TEST(RequestParser, ErrorCarriesStatusAndReason) {
  RequestParser p;
  const ParseResult r = p.parse("GET / HTTP/1.1\r\nHost: a\r\nX : v\r\n\r\n");
  ASSERT_EQ(r.status, ParseStatus::kError);
  EXPECT_EQ(r.error, StatusCode::kBadRequest);
  EXPECT_EQ(r.reason, "invalid header name");
  EXPECT_EQ(reason_phrase(r.error), "Bad Request");
}

TEST(RequestParser, PipelinedRequestsOnOneConnection) {
  std::string conn =
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
      "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      "\r\nGET /3 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
  RequestParser p;
  BodyDecoder d;
  std::vector<std::string> targets;
  std::string bodies;
  std::string_view in = conn;
  while (!in.empty()) {
    const ParseResult r = p.parse(in);
    ASSERT_EQ(r.status, ParseStatus::kHeadersDone) << r.reason;
    targets.emplace_back(p.request().target);
    in.remove_prefix(r.head_bytes);
    d.start(p.request());
    for (;;) {
      const BodyResult b = d.decode(in);
      ASSERT_NE(b.status, BodyStatus::kError);
      bodies.append(b.data);
      in.remove_prefix(b.consumed);
      if (b.status != BodyStatus::kData) break;
    }
    ASSERT_TRUE(d.done());
    const bool last = !p.request().keep_alive;
    p.reset();
    if (last) break;
  }
  EXPECT_EQ(targets, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(bodies, "abc");
  EXPECT_TRUE(in.empty());
}

}  // namespace
}  // namespace sluice::http
