#include "sluice/mem/output_buffer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include "sluice/base/unique_fd.h"

// Counts heap allocations in this test binary, for the zero-allocation test.
namespace {
std::atomic<std::size_t> g_heap_allocations{0};
}  // namespace

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"  // malloc/free pair on purpose
#endif
void* operator new(std::size_t n) {
  g_heap_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace sluice::mem {
namespace {

using FKind = FlushResult::Kind;

struct Pair {
  UniqueFd a, b;  // a: writer under test, b: reader peer
};

Pair make_pair(int buf_bytes = 0) {
  ::signal(SIGPIPE, SIG_IGN);  // sendfile cannot suppress SIGPIPE
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

// Reads what is available now from a nonblocking fd.
std::string drain(int fd) {
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// Flushes `out` into p.a while reading p.b, until done; bounded in time.
std::string flush_through(OutputBuffer& out, Pair& p) {
  std::string got;
  for (int rounds = 0; rounds < 100000; ++rounds) {
    FlushResult r = out.flush_to(p.a.get());
    got += drain(p.b.get());
    if (r.kind == FKind::kDone) break;
    EXPECT_EQ(r.kind, FKind::kAgain);
    if (r.kind != FKind::kAgain) break;
  }
  got += drain(p.b.get());
  return got;
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

TEST(OutputBuffer, FitsIn192Bytes) { EXPECT_LE(sizeof(OutputBuffer), 192u); }

TEST(OutputBuffer, StartsEmptyWithoutABlock) {
  BufferPool pool;
  OutputBuffer out(pool);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(out.holds_block());
  Pair p = make_pair();
  FlushResult r = out.flush_to(p.a.get());
  EXPECT_EQ(r.kind, FKind::kDone);
  EXPECT_EQ(r.bytes, 0u);
}

TEST(OutputBuffer, AppendsFillTheLastBlockBeforeTakingANewOne) {
  BufferPool pool;
  OutputBuffer out(pool);
  ASSERT_TRUE(out.append("HTTP/1.1 200 OK\r\n").ok());
  ASSERT_TRUE(out.append("Content-Length: 5\r\n\r\n").ok());
  EXPECT_EQ(pool.stats().classes[1].in_use, 1u);  // one 16K block for both
  EXPECT_EQ(out.pending_bytes(), 17u + 21u);
  ASSERT_TRUE(out.append(std::string(16 * 1024, 'x')).ok());  // spills into a second block
  EXPECT_EQ(pool.stats().classes[1].in_use, 2u);
  Pair p = make_pair();
  std::string got = flush_through(out, p);
  EXPECT_EQ(got, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" + std::string(16 * 1024, 'x'));
}

TEST(OutputBuffer, LargeAppendTakesTheClassItNeeds) {
  BufferPool pool;
  OutputBuffer out(pool);
  const std::string big = pattern(200000);
  ASSERT_TRUE(out.append(big).ok());
  EXPECT_EQ(pool.stats().classes[3].in_use, 1u);  // 256K
  Pair p = make_pair();
  EXPECT_EQ(flush_through(out, p), big);
}

TEST(OutputBuffer, FlushReleasesDrainedBlocksAtOnce) {
  BufferPool pool;
  OutputBuffer out(pool);
  ASSERT_TRUE(out.append("response").ok());
  Pair p = make_pair();
  FlushResult r = out.flush_to(p.a.get());
  EXPECT_EQ(r.kind, FKind::kDone);
  EXPECT_EQ(r.bytes, 8u);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(out.holds_block());
  EXPECT_EQ(pool.stats().classes[1].in_use, 0u);
  EXPECT_EQ(drain(p.b.get()), "response");
}

TEST(OutputBuffer, PartialWriteReportsAgainAndKeepsTheRestInOrder) {
  BufferPool pool;
  OutputBuffer out(pool);
  Pair p = make_pair(4096);
  const std::string data = pattern(300000);
  ASSERT_TRUE(out.append(data).ok());
  FlushResult r = out.flush_to(p.a.get());
  EXPECT_EQ(r.kind, FKind::kAgain);
  EXPECT_GT(r.bytes, 0u);
  EXPECT_LT(r.bytes, data.size());
  EXPECT_EQ(out.pending_bytes(), data.size() - r.bytes);
  std::string got = drain(p.b.get());
  got += flush_through(out, p);
  EXPECT_EQ(got, data);
  EXPECT_FALSE(out.holds_block());
}

TEST(OutputBuffer, BorrowedBytesAreSentWithoutCopies) {
  BufferPool pool;
  OutputBuffer out(pool);
  static const std::string body = "static body";
  out.append_borrowed(body);
  out.append_borrowed("");  // ignored
  EXPECT_FALSE(out.holds_block());
  EXPECT_EQ(out.pending_bytes(), body.size());
  Pair p = make_pair();
  EXPECT_EQ(flush_through(out, p), body);
}

TEST(OutputBuffer, PrepareAndCommitFormatInPlace) {
  BufferPool pool;
  OutputBuffer out(pool);
  ASSERT_TRUE(out.append("a=").ok());
  auto span = out.prepare(32);
  ASSERT_TRUE(span.ok());
  ASSERT_GE(span->size(), 32u);
  int n = std::snprintf(reinterpret_cast<char*>(span->data()), span->size(), "%d", 12345);
  out.commit(static_cast<std::size_t>(n));
  EXPECT_EQ(pool.stats().classes[1].in_use, 1u);  // same block
  auto big = out.prepare(100000);
  ASSERT_TRUE(big.ok());
  EXPECT_GE(big->size(), 100000u);
  std::memcpy(big->data(), ";b", 2);
  out.commit(2);
  EXPECT_EQ(out.pending_bytes(), 9u);
  EXPECT_EQ(out.prepare(9 * 1024 * 1024).error(), make_error_code(Errc::kTooLarge));
  Pair p = make_pair();
  EXPECT_EQ(flush_through(out, p), "a=12345;b");
}

TEST(OutputBuffer, BrokenPipeIsAnErrorAndBytesStayPending) {
  BufferPool pool;
  OutputBuffer out(pool);
  Pair p = make_pair();
  p.b.reset();
  ASSERT_TRUE(out.append("nobody listens").ok());
  FlushResult r = out.flush_to(p.a.get());
  EXPECT_EQ(r.kind, FKind::kError);
  EXPECT_EQ(r.error, std::error_code(EPIPE, std::system_category()));
  EXPECT_EQ(out.pending_bytes(), 14u);
  out.clear();
  EXPECT_FALSE(out.holds_block());
  EXPECT_EQ(pool.stats().classes[1].in_use, 0u);
}

TEST(OutputBuffer, NonSocketDescriptorsAreWrittenWithWritev) {
  BufferPool pool;
  OutputBuffer out(pool);
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  ASSERT_TRUE(out.append("to a pipe").ok());
  EXPECT_EQ(out.flush_to(w.get()).kind, FKind::kDone);
  EXPECT_EQ(drain(r.get()), "to a pipe");
}

TEST(OutputBuffer, PoolRefusalLeavesTheBufferUnchanged) {
  PoolOptions o;
  o.limit_bytes = 16 * 1024;
  BufferPool pool(o);
  OutputBuffer out(pool);
  ASSERT_TRUE(out.append("kept").ok());
  Status st = out.append(std::string(20000, 'y'));  // needs a second block
  EXPECT_EQ(st.error(), make_error_code(Errc::kPoolLimit));
  EXPECT_EQ(out.pending_bytes(), 4u);
  Pair p = make_pair();
  EXPECT_EQ(flush_through(out, p), "kept");
  EXPECT_EQ(out.append(std::string(20000, 'y')).error(), make_error_code(Errc::kPoolLimit));
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(out.holds_block());
}

TEST(OutputBuffer, ManyPiecesSpillToTheHeapAndComeBackInline) {
  BufferPool pool;
  OutputBuffer out(pool);
  std::string expect;
  static const std::string words[] = {"alpha ", "beta ", "gamma ", "delta "};
  for (int i = 0; i < 100; ++i) {
    out.append_borrowed(words[i % 4]);
    expect += words[i % 4];
    if (i % 10 == 0) {
      ASSERT_TRUE(out.append("|").ok());
      expect += "|";
    }
  }
  Pair p = make_pair();
  EXPECT_EQ(flush_through(out, p), expect);
  EXPECT_FALSE(out.holds_block());
  // The buffer is reusable after the heap storage went away.
  out.append_borrowed(words[0]);
  EXPECT_EQ(flush_through(out, p), words[0]);
}

TEST(OutputBuffer, SteadyStateMakesNoHeapAllocations) {
  BufferPool pool;
  OutputBuffer out(pool);
  Pair p = make_pair();
  static const std::string body(1000, 'b');
  char sink[65536];
  auto one_response = [&] {
    ASSERT_TRUE(out.append("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n").ok());
    out.append_borrowed(body);
    ASSERT_EQ(out.flush_to(p.a.get()).kind, FKind::kDone);
    while (::read(p.b.get(), sink, sizeof sink) > 0) {
    }
  };
  one_response();  // warm-up: the pool's thread cache is created here
  const std::size_t before = g_heap_allocations.load();
  for (int i = 0; i < 1000; ++i) one_response();
  EXPECT_EQ(g_heap_allocations.load(), before);
}

TEST(OutputBuffer, WritevBatchesMoreThanIovMaxPiecesInOrder) {
  BufferPool pool;
  OutputBuffer out(pool);
  Pair p = make_pair(64 * 1024);
  std::vector<std::string> pieces;
  std::string expect;
  for (int i = 0; i < 3000; ++i) pieces.push_back("<" + std::to_string(i) + ">");
  for (const auto& s : pieces) {
    out.append_borrowed(s);
    expect += s;
  }
  std::string got;
  std::thread reader([&] {
    char buf[8192];
    pollfd pfd{p.b.get(), POLLIN, 0};
    while (got.size() < expect.size() && ::poll(&pfd, 1, 10000) > 0) {
      ssize_t n = ::read(p.b.get(), buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<std::size_t>(n));
    }
  });
  pollfd pfd{p.a.get(), POLLOUT, 0};
  for (;;) {
    FlushResult r = out.flush_to(p.a.get());
    if (r.kind != FKind::kAgain) {
      EXPECT_EQ(r.kind, FKind::kDone);
      break;
    }
    ASSERT_GT(::poll(&pfd, 1, 10000), 0);
  }
  reader.join();
  EXPECT_EQ(got, expect);
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    char path[] = "/tmp/sluice-mem-test-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::unlink(path);
    std::string_view s = content;
    while (!s.empty()) {
      ssize_t n = ::write(fd, s.data(), s.size());
      if (n <= 0) break;
      s.remove_prefix(static_cast<std::size_t>(n));
    }
    file_ = std::make_shared<const UniqueFd>(fd);
  }
  SharedFile file() const { return file_; }

 private:
  SharedFile file_;
};

TEST(OutputBuffer, SendfileRangesMixWithMemoryPiecesInOrder) {
  BufferPool pool;
  OutputBuffer out(pool);
  const std::string content = pattern(100000, 7);
  TempFile tmp(content);
  ASSERT_TRUE(out.append("HEAD|").ok());
  out.append_file(tmp.file(), 10, 1000);
  out.append_borrowed("|MID|");
  out.append_file(tmp.file(), 50000, 40000);
  ASSERT_TRUE(out.append("|TAIL").ok());
  out.append_file(tmp.file(), 0, 0);  // empty range: ignored
  EXPECT_EQ(out.pending_bytes(), 5u + 1000u + 5u + 40000u + 5u);
  Pair p = make_pair(8192);
  std::string got = flush_through(out, p);
  EXPECT_EQ(got,
            "HEAD|" + content.substr(10, 1000) + "|MID|" + content.substr(50000, 40000) + "|TAIL");
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(out.holds_block());
  // The caller's file offset is not moved by sendfile with an explicit offset.
  EXPECT_EQ(::lseek(tmp.file()->get(), 0, SEEK_CUR), static_cast<off_t>(content.size()));
}

TEST(OutputBuffer, FileShorterThanItsRangeIsAnError) {
  BufferPool pool;
  OutputBuffer out(pool);
  TempFile tmp("short");
  out.append_file(tmp.file(), 0, 100);
  Pair p = make_pair();
  FlushResult r = out.flush_to(p.a.get());
  EXPECT_EQ(r.kind, FKind::kError);
  EXPECT_EQ(r.bytes, 5u);
  EXPECT_EQ(out.pending_bytes(), 95u);
}

}  // namespace
}  // namespace sluice::mem
