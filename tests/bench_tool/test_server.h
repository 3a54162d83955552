// TestServer: a small configurable HTTP/1.1 server for sluice-bench's tests.
//
// One thread, level-triggered epoll on 127.0.0.1:0, plain sockets (it tests
// the load generator, so it shares no code with it or with Sluice's server).
// Keep-alive as HTTP/1.x says; pipelined requests are answered in order.
// It counts every request it parsed and what it did with it, so a test can
// compare the tool's counts with the truth. Misbehaviours, chosen by request
// number k (1-based, in the order the server parsed them):
//   abort_every N  — k % N == 0: reset the connection (RST), no answer
//   error_every N  — k % N == 0 (and not aborted): answer 500
//   stall_at K     — before answering request K, sleep stall_ms (the whole
//                    server stalls, as a GC pause or a blocked worker would)
// and, for every response, a body framing and a write pattern.
// Thread rules: construct/destroy on one thread; counters readable anywhere.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace bench_test {

enum class BodyMode {
  kLength,          // Content-Length
  kChunked,         // Transfer-Encoding: chunked, two chunks, an extension, a trailer
  kUntilClose,      // HTTP/1.0 reply without length; the server closes
  kShortThenClose,  // Content-Length: 100, 10 bytes, then close
};

struct TestServerConfig {
  std::uint64_t abort_every = 0;
  std::uint64_t error_every = 0;
  std::uint64_t stall_at = 0;
  int stall_ms = 0;
  BodyMode body = BodyMode::kLength;
  bool byte_writes = false;  // every response written one byte per send()
  std::string body_text = "Hello, World!";
};

class TestServer {
 public:
  explicit TestServer(TestServerConfig config = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path = "/") const;

  std::uint64_t requests() const { return requests_.load(); }  // parsed
  std::uint64_t answered_200() const { return ok_.load(); }
  std::uint64_t answered_500() const { return errors_.load(); }
  std::uint64_t aborted() const { return aborted_.load(); }
  std::uint64_t connections() const { return accepted_.load(); }
  std::uint64_t body_bytes_received() const { return body_bytes_.load(); }
  // Waits until requests() reaches n (the server may trail the client by a
  // few microseconds when the client closes first, e.g. webbench -f).
  bool wait_for_requests(std::uint64_t n, std::chrono::milliseconds limit) const;

 private:
  struct Conn;
  void run();
  void on_readable(Conn& c);
  void handle_requests(Conn& c);
  void respond(Conn& c, int status, bool keep_alive);
  void flush(Conn& c);
  void close_conn(Conn& c, bool reset);

  TestServerConfig config_;
  int listen_fd_ = -1;
  int epoll_fd_ = -1;
  int stop_fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> aborted_{0};
  std::atomic<std::uint64_t> accepted_{0};
  std::atomic<std::uint64_t> body_bytes_{0};
};

}  // namespace bench_test
