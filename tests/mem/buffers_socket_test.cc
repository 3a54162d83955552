// InputBuffer and OutputBuffer together over a socketpair.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

#include "sluice/base/unique_fd.h"
#include "sluice/mem/input_buffer.h"
#include "sluice/mem/output_buffer.h"

namespace sluice::mem {
namespace {

constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
constexpr std::uint64_t kFnvPrime = 1099511628211ull;

std::uint64_t fnv(std::uint64_t h, std::string_view s) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * kFnvPrime;
  return h;
}

TEST(Buffers, HundredMegabytesArriveIntactThroughSmallSocketBuffers) {
  ::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd writer_fd(fds[0]), reader_fd(fds[1]);
  const int small = 32 * 1024;
  for (int fd : fds) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  }
  constexpr std::size_t kTotal = std::size_t{100} << 20;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(90);
  BufferPool pool;

  // A fixed pseudo-random source; the writer sends slices of it, some copied,
  // some borrowed, in varying sizes.
  std::string source(1 << 20, '\0');
  std::uint32_t x = 12345;
  for (auto& c : source) {
    x = x * 1664525u + 1013904223u;
    c = static_cast<char>(x >> 24);
  }

  std::uint64_t sent_hash = kFnvOffset;
  bool writer_ok = true;
  std::thread writer([&] {
    OutputBuffer out(pool);
    std::size_t sent = 0, pos = 0, step = 0;
    pollfd pfd{writer_fd.get(), POLLOUT, 0};
    while (sent < kTotal && std::chrono::steady_clock::now() < deadline) {
      // Queue up to ~256K, then flush.
      while (out.pending_bytes() < (256u << 10) && sent < kTotal) {
        std::size_t len = 1 + (step * 7919) % 20000;
        ++step;
        len = std::min({len, kTotal - sent, source.size() - pos});
        std::string_view slice(source.data() + pos, len);
        if (step % 3 == 0) {
          out.append_borrowed(slice);
        } else if (!out.append(slice).ok()) {
          writer_ok = false;
          return;
        }
        sent_hash = fnv(sent_hash, slice);
        sent += len;
        pos = (pos + len) % source.size();
      }
      for (;;) {
        FlushResult r = out.flush_to(writer_fd.get());
        if (r.kind == FlushResult::Kind::kDone) break;
        if (r.kind == FlushResult::Kind::kError) {
          writer_ok = false;
          return;
        }
        if (::poll(&pfd, 1, 1000) < 0) {
          writer_ok = false;
          return;
        }
      }
    }
    if (sent != kTotal) writer_ok = false;
    if (out.holds_block()) writer_ok = false;
    writer_fd.reset();  // EOF for the reader
  });

  InputBuffer in(pool, 1 << 20);
  std::uint64_t got_hash = kFnvOffset;
  std::size_t received = 0;
  bool eof = false;
  pollfd pfd{reader_fd.get(), POLLIN, 0};
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    ReadResult r = in.read_from(reader_fd.get(), true);
    ASSERT_NE(r.kind, ReadResult::Kind::kError) << r.error.message();
    // A parser would look at a prefix; consume in two steps to exercise both.
    std::string_view v = in.view();
    std::size_t half = v.size() / 2;
    got_hash = fnv(got_hash, v.substr(0, half));
    in.consume(half);
    v = in.view();
    got_hash = fnv(got_hash, v);
    received += half + v.size();
    in.consume(v.size());
    EXPECT_FALSE(in.holds_block());
    if (r.kind == ReadResult::Kind::kEof) eof = true;
    if (r.kind == ReadResult::Kind::kAgain) ::poll(&pfd, 1, 1000);
  }
  writer.join();
  EXPECT_TRUE(eof);
  EXPECT_TRUE(writer_ok);
  EXPECT_EQ(received, kTotal);
  EXPECT_EQ(got_hash, sent_hash);
  PoolStats s = pool.stats();
  for (const auto& c : s.classes) EXPECT_EQ(c.in_use, 0u);
}

TEST(Buffers, AnIdleConnectionHoldsNoBlockAfterARequestAndAReply) {
  ::signal(SIGPIPE, SIG_IGN);
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
  UniqueFd server(fds[0]), client(fds[1]);
  BufferPool pool;
  InputBuffer in(pool);
  OutputBuffer out(pool);
  ASSERT_EQ(::write(client.get(), "PING\n", 5), 5);
  ReadResult r = in.read_from(server.get(), true);
  ASSERT_EQ(r.bytes, 5u);
  ASSERT_EQ(in.view(), "PING\n");
  in.consume(5);
  ASSERT_TRUE(out.append("PONG\n").ok());
  ASSERT_EQ(out.flush_to(server.get()).kind, FlushResult::Kind::kDone);
  r = in.read_from(server.get(), true);
  EXPECT_EQ(r.kind, ReadResult::Kind::kAgain);
  EXPECT_FALSE(in.holds_block());
  EXPECT_FALSE(out.holds_block());
  PoolStats s = pool.stats();
  for (const auto& c : s.classes) EXPECT_EQ(c.in_use, 0u);
  char buf[8];
  EXPECT_EQ(::read(client.get(), buf, sizeof buf), 5);
}

}  // namespace
}  // namespace sluice::mem
