// The hot path allocates nothing per request: counted, not timed.
// This binary replaces the global operator new to count every allocation of
// the process (server loop and client alike) during a window of requests.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string_view>

#include "sluice/http/server.h"

namespace {
std::atomic<std::uint64_t> g_allocations{0};
}  // namespace

// The replacements below pair malloc with free on purpose; GCC's inliner
// sees only the standard names and would call it a mismatch.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace sluice::http {
namespace {

// Sends `per_write` requests at once and reads until every answer is in;
// repeats `rounds` times. No allocation: stack buffers only.
bool exchange(int fd, const char* req, std::size_t req_len, int per_write, int rounds,
              std::size_t answer_len) {
  char batch[16 * 64];
  for (int i = 0; i < per_write; ++i)
    std::memcpy(batch + static_cast<std::size_t>(i) * req_len, req, req_len);
  const std::size_t batch_len = req_len * static_cast<std::size_t>(per_write);
  char buf[65536];
  for (int r = 0; r < rounds; ++r) {
    if (::send(fd, batch, batch_len, MSG_NOSIGNAL) != static_cast<ssize_t>(batch_len)) return false;
    std::size_t want = answer_len * static_cast<std::size_t>(per_write);
    while (want > 0) {
      ssize_t n = ::recv(fd, buf, std::min(sizeof buf, want), 0);
      if (n <= 0) return false;
      want -= static_cast<std::size_t>(n);
    }
  }
  return true;
}

class HttpAllocTest : public ::testing::TestWithParam<int> {};

TEST_P(HttpAllocTest, SteadyStateRequestsAllocateNothing) {
  ::signal(SIGPIPE, SIG_IGN);
  Router router;
  router.get("/plaintext", [](ServerRequest&, Response& res) {
    res.header("Content-Type", "text/plain").send("Hello, World!");
  });
  ServerOptions options;
  options.tcp.listen.push_back(*net::InetAddress::parse("127.0.0.1:0"));
  options.max_requests_per_connection = 1'000'000;
  HttpServer server(options, router);
  ASSERT_TRUE(server.start().ok());

  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(server.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  static constexpr char kReq[] = "GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n";
  // The answer's length is fixed (the Date header has a fixed width).
  char probe[1024];
  ::send(fd, kReq, sizeof kReq - 1, MSG_NOSIGNAL);
  ssize_t n = ::recv(fd, probe, sizeof probe, 0);
  ASSERT_GT(n, 0);
  const auto answer_len = static_cast<std::size_t>(n);
  ASSERT_EQ(std::string_view(probe + answer_len - 13, 13), "Hello, World!");

  // The counter sees allocations (so a zero below means something).
  std::uint64_t c0 = g_allocations.load();
  ::operator delete(::operator new(16));  // a direct call, which cannot be elided
  ASSERT_GT(g_allocations.load(), c0);

  const int per_write = GetParam();
  ASSERT_TRUE(exchange(fd, kReq, sizeof kReq - 1, per_write, 500, answer_len));  // warm-up
  const int rounds = 4000 / per_write;
  std::uint64_t before = g_allocations.load();
  ASSERT_TRUE(exchange(fd, kReq, sizeof kReq - 1, per_write, rounds, answer_len));
  std::uint64_t allocations = g_allocations.load() - before;
  const int requests = rounds * per_write;
  std::printf("allocations: %llu for %d requests (%d per write) = %.4f per request\n",
              static_cast<unsigned long long>(allocations), requests, per_write,
              static_cast<double>(allocations) / requests);
  EXPECT_EQ(allocations, 0u);
  ::close(fd);
  server.stop(std::chrono::milliseconds(0));
}

INSTANTIATE_TEST_SUITE_P(PerWrite, HttpAllocTest, ::testing::Values(1, 16));

}  // namespace
}  // namespace sluice::http
