// ResponseParser: framing, errors, and every possible split of the input.
#include "response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sluice::bench {
namespace {

struct Parsed {
  std::vector<int> statuses;
  std::vector<std::uint64_t> bodies;
  std::vector<bool> keep_alive;
  bool error = false;
  bool eof_completed = false;
  bool idle_at_end = false;
};

void on_complete(const ResponseParser& p, Parsed& out) {
  out.statuses.push_back(p.status());
  out.bodies.push_back(p.body_bytes());
  out.keep_alive.push_back(p.keep_alive());
}

// Feeds `pieces` one after the other, then signals EOF.
Parsed parse_pieces(const std::vector<std::string>& pieces, bool head = false) {
  ResponseParser p;
  p.reset();
  p.set_head_request(head);
  Parsed out;
  for (const std::string& piece : pieces) {
    std::size_t pos = 0;
    while (pos < piece.size()) {
      const auto step = p.feed(piece.data() + pos, piece.size() - pos);
      pos += step.consumed;
      if (step.outcome == ResponseParser::Outcome::kError) {
        out.error = true;
        return out;
      }
      if (step.outcome == ResponseParser::Outcome::kComplete) on_complete(p, out);
    }
  }
  out.idle_at_end = p.idle();
  if (p.finish_on_eof()) {
    out.eof_completed = true;
    on_complete(p, out);
  }
  return out;
}

void expect_same(const Parsed& a, const Parsed& b, const std::string& where) {
  EXPECT_EQ(a.statuses, b.statuses) << where;
  EXPECT_EQ(a.bodies, b.bodies) << where;
  EXPECT_EQ(a.keep_alive, b.keep_alive) << where;
  EXPECT_EQ(a.error, b.error) << where;
  EXPECT_EQ(a.eof_completed, b.eof_completed) << where;
}

const std::string kStream =
    "HTTP/1.1 200 OK\r\nContent-Length: 13\r\nServer: x\r\n\r\nHello, World!"
    "HTTP/1.1 100 Continue\r\n\r\n"
    "HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nHello\r\n8\r\n, World!\r\n0\r\nX-Trailer: 1\r\n\r\n"
    "HTTP/1.1 204 No Content\r\n\r\n"
    "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n"
    "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n"
    "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    "HTTP/1.0 200 OK\r\nServer: y\r\n\r\nuntil the end";

TEST(ResponseParser, WholeStream) {
  const Parsed p = parse_pieces({kStream});
  ASSERT_FALSE(p.error);
  EXPECT_EQ(p.statuses, (std::vector<int>{200, 201, 204, 304, 500, 404, 200}));
  EXPECT_EQ(p.bodies, (std::vector<std::uint64_t>{13, 13, 0, 0, 0, 3, 13}));
  EXPECT_EQ(p.keep_alive, (std::vector<bool>{true, true, true, true, true, false, false}));
  EXPECT_TRUE(p.eof_completed);
}

TEST(ResponseParser, EverySplitIntoTwoGivesTheSameResult) {
  const Parsed whole = parse_pieces({kStream});
  for (std::size_t cut = 0; cut <= kStream.size(); ++cut) {
    expect_same(parse_pieces({kStream.substr(0, cut), kStream.substr(cut)}), whole,
                "cut at " + std::to_string(cut));
  }
}

TEST(ResponseParser, EverySplitIntoThreeGivesTheSameResult) {
  const std::string s = kStream.substr(0, 200);  // the first three responses
  const Parsed whole = parse_pieces({s});
  ASSERT_EQ(whole.statuses.size(), 2u);
  for (std::size_t a = 0; a <= s.size(); ++a)
    for (std::size_t b = a; b <= s.size(); ++b)
      expect_same(parse_pieces({s.substr(0, a), s.substr(a, b - a), s.substr(b)}), whole,
                  "cuts " + std::to_string(a) + "," + std::to_string(b));
}

TEST(ResponseParser, SingleBytes) {
  std::vector<std::string> bytes;
  for (char c : kStream) bytes.emplace_back(1, c);
  expect_same(parse_pieces(bytes), parse_pieces({kStream}), "single bytes");
}

TEST(ResponseParser, ContentLengthLargerThanTheDataThenEofIsIncomplete) {
  const Parsed p = parse_pieces({"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"});
  EXPECT_FALSE(p.error);
  EXPECT_TRUE(p.statuses.empty());
  EXPECT_FALSE(p.eof_completed);
  EXPECT_FALSE(p.idle_at_end);
}

TEST(ResponseParser, BodiesPast4GiB) {
  ResponseParser p;
  p.reset();
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5000000000\r\n\r\n";
  auto step = p.feed(head);
  ASSERT_EQ(step.outcome, ResponseParser::Outcome::kNeedMore);
  const std::string block(1 << 20, 'x');
  std::uint64_t fed = 0;
  while (fed < 5'000'000'000ULL) {
    step = p.feed(block.data(), static_cast<std::size_t>(
                                    std::min<std::uint64_t>(block.size(), 5'000'000'000ULL - fed)));
    fed += step.consumed;
    if (step.outcome == ResponseParser::Outcome::kComplete) break;
    ASSERT_EQ(step.outcome, ResponseParser::Outcome::kNeedMore);
  }
  EXPECT_EQ(step.outcome, ResponseParser::Outcome::kComplete);
  EXPECT_EQ(p.body_bytes(), 5'000'000'000ULL);
}

TEST(ResponseParser, HeadResponsesHaveNoBody) {
  const Parsed p = parse_pieces(
      {"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"},
      true);
  EXPECT_EQ(p.statuses, (std::vector<int>{200, 200}));
  EXPECT_TRUE(p.idle_at_end);
}

TEST(ResponseParser, Http10KeepAliveOnlyWhenAsked) {
  const Parsed p =
      parse_pieces({"HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n"
                    "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"});
  EXPECT_EQ(p.keep_alive, (std::vector<bool>{true, false}));
}

TEST(ResponseParser, MalformedInputIsAnError) {
  for (const char* bad : {
           "HTTX/1.1 200 OK\r\n\r\n",
           "HTTP/1.1 2x0 OK\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXX\r\n",
           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
       }) {
    EXPECT_TRUE(parse_pieces({bad}).error) << bad;
  }
}

TEST(ResponseParser, OversizedHeadIsAnError) {
  std::string head = "HTTP/1.1 200 OK\r\n";
  while (head.size() < ResponseParser::kMaxHeaderBytes + 10)
    head += "X-Filler: 0123456789abcdef\r\n";
  head += "\r\n";
  EXPECT_TRUE(parse_pieces({head}).error);
}

TEST(ResponseParser, LongHeaderLinesSplitAcrossReads) {
  const std::string value(1000, 'v');
  const std::string s = "HTTP/1.1 200 OK\r\nX-Long: " + value + "\r\nContent-Length: 2\r\n\r\nok";
  const Parsed whole = parse_pieces({s});
  ASSERT_EQ(whole.statuses, (std::vector<int>{200}));
  for (std::size_t cut = 0; cut <= s.size(); cut += 7)
    expect_same(parse_pieces({s.substr(0, cut), s.substr(cut)}), whole, std::to_string(cut));
}

}  // namespace
}  // namespace sluice::bench
