#include "sluice/http/body_decoder.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::http {
namespace {

TEST(BodyDecoder, NoBodyIsDoneAtOnce) {
  BodyDecoder d;
  d.start(BodyFraming::kNone, 0);
  const BodyResult r = d.decode("GET / HTTP/1.1\r\n");
  EXPECT_EQ(r.status, BodyStatus::kDone);
  EXPECT_EQ(r.consumed, 0u);
}

TEST(BodyDecoder, ContentLengthStopsAtTheLength) {
  BodyDecoder d;
  d.start(BodyFraming::kContentLength, 5);
  BodyResult r = d.decode("hel");
  EXPECT_EQ(r.status, BodyStatus::kNeedMore);
  EXPECT_EQ(r.data, "hel");
  EXPECT_EQ(r.consumed, 3u);
  r = d.decode("");
  EXPECT_EQ(r.status, BodyStatus::kNeedMore);
  EXPECT_EQ(r.consumed, 0u);
  r = d.decode("loNEXT");
  EXPECT_EQ(r.status, BodyStatus::kDone);
  EXPECT_EQ(r.data, "lo");
  EXPECT_EQ(r.consumed, 2u);
  EXPECT_EQ(d.body_bytes(), 5u);
}

TEST(BodyDecoder, ContentLengthOverLimitIsRejectedAtStart) {
  ParserLimits l;
  l.max_body_size = 4;
  BodyDecoder d(l);
  d.start(BodyFraming::kContentLength, 5);
  const BodyResult r = d.decode("hello");
  EXPECT_EQ(r.status, BodyStatus::kError);
  EXPECT_EQ(r.error, StatusCode::kContentTooLarge);
}

// One piece per call: framing between pieces is consumed with the next piece.
TEST(BodyDecoder, ChunkedGivesOnePiecePerCall) {
  BodyDecoder d;
  d.start(BodyFraming::kChunked, 0);
  std::string_view in = "3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: v\r\n\r\nNEXT";
  BodyResult r = d.decode(in);
  EXPECT_EQ(r.status, BodyStatus::kData);
  EXPECT_EQ(r.data, "abc");
  in.remove_prefix(r.consumed);
  r = d.decode(in);
  EXPECT_EQ(r.status, BodyStatus::kData);
  EXPECT_EQ(r.data, "de");
  in.remove_prefix(r.consumed);
  r = d.decode(in);
  EXPECT_EQ(r.status, BodyStatus::kDone);
  EXPECT_TRUE(r.data.empty());
  in.remove_prefix(r.consumed);
  EXPECT_EQ(in, "NEXT");
  EXPECT_EQ(d.chunk_count(), 2u);
  EXPECT_EQ(d.body_bytes(), 5u);
}

TEST(BodyDecoder, ErrorIsSticky) {
  BodyDecoder d;
  d.start(BodyFraming::kChunked, 0);
  EXPECT_EQ(d.decode("g\r\n").status, BodyStatus::kError);
  const BodyResult r = d.decode("0\r\n\r\n");
  EXPECT_EQ(r.status, BodyStatus::kError);
  EXPECT_EQ(r.error, StatusCode::kBadRequest);
  d.start(BodyFraming::kChunked, 0);
  EXPECT_EQ(d.decode("0\r\n\r\n").status, BodyStatus::kDone);
}

TEST(BodyDecoder, ManySmallChunksAreLinear) {
  std::string body;
  std::string expect;
  for (int i = 0; i < 10000; ++i) {
    body += "1\r\nx\r\n";
    expect += 'x';
  }
  body += "0\r\n\r\n";
  BodyDecoder d;
  d.start(BodyFraming::kChunked, 0);
  std::string got;
  std::string_view in = body;
  for (;;) {
    const BodyResult r = d.decode(in);
    ASSERT_NE(r.status, BodyStatus::kError);
    got.append(r.data);
    in.remove_prefix(r.consumed);
    if (r.status != BodyStatus::kData) break;
  }
  EXPECT_TRUE(d.done());
  EXPECT_EQ(got, expect);
}

}  // namespace
}  // namespace sluice::http
