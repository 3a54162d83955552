// The frame format and the decoder, without sockets.
#include "sluice/msg/decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "msg/frame_builder.h"
#include "sluice/mem/input_buffer.h"
#include "sluice/msg/router.h"

namespace sluice::msg {
namespace {

using test::frame;
using test::RawFrame;

struct Seen {
  std::uint32_t id;
  std::uint8_t flags;
  std::string body;
};

// What a connection does with its input: decode every whole frame at the
// front, then consume them. Returns the first error, or kNeedMore.
DecodeStatus drain(const Decoder& d, mem::InputBuffer& in, std::vector<Seen>& out) {
  std::size_t used = 0;
  for (;;) {
    DecodeResult r = d.decode(in.view().substr(used));
    if (r.status != DecodeStatus::kFrame) {
      in.consume(used);
      return r.status;
    }
    // The body views the buffer: no copy until the test keeps it.
    EXPECT_GE(r.frame.body.data(), in.view().data());
    EXPECT_LE(r.frame.body.data() + r.frame.body.size(), in.view().data() + in.view().size());
    out.push_back({r.frame.id, r.frame.flags, std::string(r.frame.body)});
    used += r.size;
  }
}

TEST(FrameFormat, HeaderIsNetworkByteOrderByteByByte) {
  char out[kHeaderSize];
  encode_header({.flags = 0x05, .id = 0x01020304u, .length = 0x0A0B0C0Du}, out);
  const unsigned char expect[kHeaderSize] = {0x53, 0x4C, 0x01, 0x05, 0x01, 0x02,
                                             0x03, 0x04, 0x0A, 0x0B, 0x0C, 0x0D};
  for (std::size_t i = 0; i < kHeaderSize; ++i)
    EXPECT_EQ(static_cast<unsigned char>(out[i]), expect[i]) << "byte " << i;
  FrameHeader h = decode_header(out);
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.version, kVersion);
  EXPECT_EQ(h.flags, 0x05);
  EXPECT_EQ(h.id, 0x01020304u);
  EXPECT_EQ(h.length, 0x0A0B0C0Du);
  EXPECT_EQ(frame(0x01020304u, "", 0x05).substr(0, 8), std::string(out, 8));
}

TEST(Decoder, FramesSplitAtEveryByteBoundary) {
  const std::string stream = frame(1, "") + frame(2, "x") + frame(3, std::string(300, 'b'), 0x0F) +
                             frame(kPingId, "") + frame(4, "tail");
  Decoder d;
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    mem::InputBuffer in;
    std::vector<Seen> seen;
    ASSERT_TRUE(in.append(stream.substr(0, split)));
    ASSERT_EQ(drain(d, in, seen), DecodeStatus::kNeedMore) << "split " << split;
    ASSERT_TRUE(in.append(stream.substr(split)));
    ASSERT_EQ(drain(d, in, seen), DecodeStatus::kNeedMore) << "split " << split;
    ASSERT_EQ(seen.size(), 5u) << "split " << split;
    EXPECT_TRUE(in.empty());
    EXPECT_EQ(seen[0].id, 1u);
    EXPECT_EQ(seen[0].body, "");
    EXPECT_EQ(seen[1].body, "x");
    EXPECT_EQ(seen[2].body, std::string(300, 'b'));
    EXPECT_EQ(seen[2].flags, 0x0F);
    EXPECT_EQ(seen[3].id, kPingId);
    EXPECT_EQ(seen[4].body, "tail");
  }
}

TEST(Decoder, OneByteAtATime) {
  const std::string stream = frame(7, "abc") + frame(8, "") + frame(9, "defgh");
  Decoder d;
  mem::InputBuffer in;
  std::vector<Seen> seen;
  for (char c : stream) {
    ASSERT_TRUE(in.append(std::string_view(&c, 1)));
    ASSERT_EQ(drain(d, in, seen), DecodeStatus::kNeedMore);
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].body, "defgh");
}

TEST(Decoder, TenThousandFramesInOneBuffer) {
  std::string stream;
  for (std::uint32_t i = 0; i < 10'000; ++i) stream += frame(i, std::to_string(i));
  Decoder d;
  mem::InputBuffer in;
  ASSERT_TRUE(in.append(stream));
  std::vector<Seen> seen;
  ASSERT_EQ(drain(d, in, seen), DecodeStatus::kNeedMore);
  ASSERT_EQ(seen.size(), 10'000u);
  for (std::uint32_t i = 0; i < 10'000; ++i) {
    ASSERT_EQ(seen[i].id, i);
    ASSERT_EQ(seen[i].body, std::to_string(i));
  }
  EXPECT_TRUE(in.empty());
  EXPECT_FALSE(in.holds_block());  // consumed: the block went back to the pool
}

TEST(Decoder, ZeroLengthBodyIsAWholeFrameAtTwelveBytes) {
  Decoder d;
  const std::string f = frame(5, "");
  ASSERT_EQ(f.size(), kHeaderSize);
  EXPECT_EQ(d.decode(std::string_view(f).substr(0, kHeaderSize - 1)).status,
            DecodeStatus::kNeedMore);
  DecodeResult r = d.decode(f);
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.size, kHeaderSize);
  EXPECT_TRUE(r.frame.body.empty());
}

TEST(Decoder, MaximumBodyPassesAndOneByteOverIsRefusedFromTheHeader) {
  Decoder d(1000);
  EXPECT_EQ(d.input_cap(), kHeaderSize + 1000);
  std::string ok = frame(1, std::string(1000, 'm'));
  DecodeResult r = d.decode(ok);
  ASSERT_EQ(r.status, DecodeStatus::kFrame);
  EXPECT_EQ(r.frame.body.size(), 1000u);
  // One byte over: refused as soon as the header is in, before any body.
  RawFrame over;
  over.length_override = 1001;
  r = d.decode(over.bytes());
  EXPECT_EQ(r.status, DecodeStatus::kBadLength);
  EXPECT_EQ(r.header.length, 1001u);
}

TEST(Decoder, DefaultLimitIs64KiBAndTheLimitIsClampedToTheLargestBlock) {
  EXPECT_EQ(Decoder().max_body(), std::size_t{64} << 10);
  Decoder d(std::size_t{1} << 30);
  EXPECT_EQ(d.max_body(), kMaxBodyLimit);
  EXPECT_EQ(d.input_cap(), mem::kMaxBlockSize);
}

TEST(Decoder, GarbageMagicIsRefusedFromTwoBytes) {
  Decoder d;
  EXPECT_EQ(d.decode("G").status, DecodeStatus::kNeedMore);
  EXPECT_EQ(d.decode("GET / HTTP/1.1\r\n").status, DecodeStatus::kBadMagic);
  EXPECT_EQ(d.decode("GE").status, DecodeStatus::kBadMagic);
}

TEST(Decoder, BadVersionAndReservedFlags) {
  Decoder d;
  RawFrame v;
  v.version = 2;
  EXPECT_EQ(d.decode(v.bytes()).status, DecodeStatus::kBadVersion);
  RawFrame f;
  f.flags = 0x10;
  EXPECT_EQ(d.decode(f.bytes()).status, DecodeStatus::kBadFlags);
  f.flags = 0x0F;  // application bits
  EXPECT_EQ(d.decode(f.bytes()).status, DecodeStatus::kFrame);
}

TEST(Router, RefusesReservedIdsAndEmptyHandlers) {
  Router r;
  EXPECT_FALSE(r.on(kPingId, [](Link&, const Frame&) {}));
  EXPECT_FALSE(r.on(kFirstReservedId, [](Link&, const Frame&) {}));
  EXPECT_FALSE(r.on(1, nullptr));
  EXPECT_TRUE(r.on(kFirstReservedId - 1, [](Link&, const Frame&) {}));
  EXPECT_NE(r.find(kFirstReservedId - 1), nullptr);
  EXPECT_EQ(r.find(2), nullptr);
  EXPECT_EQ(r.unknown_policy(), UnknownIdPolicy::kDrop);
}

}  // namespace
}  // namespace sluice::msg
