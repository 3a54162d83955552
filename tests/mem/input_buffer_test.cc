#include "sluice/mem/input_buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "sluice/base/unique_fd.h"

namespace sluice::mem {
namespace {

using Kind = ReadResult::Kind;

struct Pair {
  UniqueFd a, b;  // a: the side under test, b: the peer
};

Pair make_pair(int buf_bytes = 0) {
  int fds[2];
  EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  if (buf_bytes > 0) {
    for (int fd : fds) {
      ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf_bytes, sizeof buf_bytes);
      ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf_bytes, sizeof buf_bytes);
    }
  }
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

void write_all(int fd, std::string_view s) {
  while (!s.empty()) {
    ssize_t n = ::write(fd, s.data(), s.size());
    ASSERT_GT(n, 0) << "peer socket buffer too small for the test";
    s.remove_prefix(static_cast<std::size_t>(n));
  }
}

std::string pattern(std::size_t n, unsigned seed = 1) {
  std::string s(n, '\0');
  unsigned x = seed;
  for (auto& ch : s) {
    x = x * 1103515245u + 12345u;
    ch = static_cast<char>(x >> 16);
  }
  return s;
}

TEST(InputBuffer, HoldsNoBlockUntilTheFirstRead) {
  BufferPool pool;
  InputBuffer in(pool);
  EXPECT_FALSE(in.holds_block());
  EXPECT_TRUE(in.empty());
  EXPECT_EQ(pool.held_bytes(), 0u);
}

TEST(InputBuffer, ReadReportsAgainAndHoldsNoBlockWhenNothingIsPending) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kAgain);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_FALSE(in.holds_block());
  EXPECT_EQ(pool.stats().classes[0].in_use, 0u);
}

TEST(InputBuffer, FirstReadTakesASmallestClassBlock) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "GET / HTTP/1.1\r\n\r\n");
  ReadResult r = in.read_from(p.a.get(), false);
  EXPECT_EQ(r.kind, Kind::kData);
  EXPECT_EQ(r.bytes, 18u);
  EXPECT_EQ(in.view(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(in.holds_block());
  EXPECT_EQ(pool.stats().classes[0].in_use, 1u);
}

TEST(InputBuffer, ShortReadEndsTheEdgeTriggeredLoopWithAgain) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "abc");
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kAgain);  // drained: no second readv was needed
  EXPECT_EQ(r.bytes, 3u);
  EXPECT_EQ(in.view(), "abc");
}

TEST(InputBuffer, EofIsReportedAfterTheBytesBeforeIt) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "last words");
  p.b.reset();
  ReadResult r = in.read_from(p.a.get(), false);
  EXPECT_EQ(r.kind, Kind::kData);
  EXPECT_EQ(in.view(), "last words");
  r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kEof);
  EXPECT_EQ(r.bytes, 0u);
  EXPECT_EQ(in.view(), "last words");
}

TEST(InputBuffer, EofWithNothingBufferedHoldsNoBlock) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  p.b.reset();
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kEof);
  EXPECT_FALSE(in.holds_block());
}

TEST(InputBuffer, PeerResetIsAnErrorWithItsCode) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  // Closing a unix socket with unread bytes resets the connection.
  write_all(p.a.get(), "unread by the peer");
  p.b.reset();
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error, std::error_code(ECONNRESET, std::system_category()));
  EXPECT_FALSE(in.holds_block());
}

TEST(InputBuffer, BadDescriptorIsAnErrorNotACrash) {
  BufferPool pool;
  InputBuffer in(pool);
  ReadResult r = in.read_from(-1, false);
  EXPECT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error, std::error_code(EBADF, std::system_category()));
}

TEST(InputBuffer, ReadBeyondTheFirstBlockStaysContiguous) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair(256 * 1024);
  const std::string data = pattern(50000);
  write_all(p.b.get(), data);
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.bytes, data.size());
  EXPECT_EQ(in.view(), data);
  // 50000 bytes need the 64K class; the 4K block went back.
  const PoolStats s = pool.stats();
  EXPECT_EQ(s.classes[2].in_use, 1u);
  EXPECT_EQ(s.classes[0].in_use, 0u);
}

TEST(InputBuffer, PartialConsumeKeepsTheRestAndAppendsAfterIt) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "first,");
  (void)in.read_from(p.a.get(), true);
  in.consume(3);
  EXPECT_EQ(in.view(), "st,");
  write_all(p.b.get(), "second");
  (void)in.read_from(p.a.get(), true);
  EXPECT_EQ(in.view(), "st,second");
}

TEST(InputBuffer, CapStopsReadingReportsFullAndLeavesTheRestInTheSocket) {
  BufferPool pool;
  InputBuffer in(pool, 1000);
  Pair p = make_pair();
  const std::string data = pattern(5000);
  write_all(p.b.get(), data);
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kFull);
  EXPECT_EQ(r.bytes, 1000u);
  EXPECT_EQ(in.view(), data.substr(0, 1000));
  r = in.read_from(p.a.get(), true);  // still full: no syscall, nothing read
  EXPECT_EQ(r.kind, Kind::kFull);
  EXPECT_EQ(r.bytes, 0u);
  in.consume(1000);
  EXPECT_FALSE(in.holds_block());
  r = in.read_from(p.a.get(), false);
  EXPECT_EQ(r.kind, Kind::kFull);
  EXPECT_EQ(in.view(), data.substr(1000, 1000));
}

TEST(InputBuffer, CapAboveTheFirstBlockGrowsUpToTheCapExactly) {
  BufferPool pool;
  InputBuffer in(pool, 20000);
  Pair p = make_pair(256 * 1024);
  const std::string data = pattern(30000);
  write_all(p.b.get(), data);
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kFull);
  EXPECT_EQ(in.size(), 20000u);
  EXPECT_EQ(in.view(), data.substr(0, 20000));
}

TEST(InputBuffer, PoolLimitOnTheFirstBlockIsAnError) {
  PoolOptions o;
  o.limit_bytes = 1;
  BufferPool pool(o);
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "data");
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error, make_error_code(Errc::kPoolLimit));
}

TEST(InputBuffer, PoolLimitOnGrowthIsAnError) {
  PoolOptions o;
  o.limit_bytes = 4096;  // the first block fits, a bigger one does not
  BufferPool pool(o);
  InputBuffer in(pool);
  Pair p = make_pair(256 * 1024);
  write_all(p.b.get(), pattern(10000));
  ReadResult r = in.read_from(p.a.get(), true);
  EXPECT_EQ(r.kind, Kind::kError);
  EXPECT_EQ(r.error, make_error_code(Errc::kPoolLimit));
  EXPECT_LE(pool.held_bytes(), 4096u);
}

TEST(InputBuffer, ConsumingEverythingReturnsTheBlock) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair();
  write_all(p.b.get(), "request");
  (void)in.read_from(p.a.get(), true);
  ASSERT_TRUE(in.holds_block());
  in.consume(4);
  EXPECT_TRUE(in.holds_block());
  in.consume(3);
  EXPECT_FALSE(in.holds_block());
  EXPECT_EQ(pool.stats().classes[0].in_use, 0u);
}

TEST(InputBuffer, AppendCopiesAndRespectsTheCap) {
  BufferPool pool;
  InputBuffer in(pool, 10);
  EXPECT_TRUE(in.append("hello").ok());
  EXPECT_TRUE(in.append("").ok());
  EXPECT_EQ(in.append("world!").error(), make_error_code(Errc::kBufferFull));
  EXPECT_EQ(in.view(), "hello");
  EXPECT_TRUE(in.append("world").ok());
  EXPECT_EQ(in.view(), "helloworld");
  in.clear();
  EXPECT_FALSE(in.holds_block());
}

TEST(InputBuffer, AppendGrowsIntoALargerClass) {
  BufferPool pool;
  InputBuffer in(pool);
  const std::string a = pattern(3000, 1), b = pattern(3000, 2);
  ASSERT_TRUE(in.append(a).ok());
  ASSERT_TRUE(in.append(b).ok());
  EXPECT_EQ(in.view(), a + b);
  EXPECT_EQ(pool.stats().classes[1].in_use, 1u);
  EXPECT_EQ(pool.stats().classes[0].in_use, 0u);
}

TEST(InputBuffer, LevelTriggeredModeMakesOneReadPerCall) {
  BufferPool pool;
  InputBuffer in(pool);
  Pair p = make_pair(256 * 1024);
  const std::string data = pattern(100000);
  write_all(p.b.get(), data);
  ReadResult r = in.read_from(p.a.get(), false);
  EXPECT_EQ(r.kind, Kind::kData);
  // One readv offers the 4K tail plus the 64K spare.
  EXPECT_EQ(r.bytes, 4096u + 65536u);
  while (in.size() < data.size()) {
    r = in.read_from(p.a.get(), false);
    ASSERT_EQ(r.kind, Kind::kData);
  }
  EXPECT_EQ(in.view(), data);
}

}  // namespace
}  // namespace sluice::mem
