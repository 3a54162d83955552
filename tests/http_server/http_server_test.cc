// The HTTP server core end to end: real sockets on 127.0.0.1, real clients.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include "sluice/http/server.h"

namespace sluice::http {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

std::uint64_t fnv1a(std::uint64_t h, std::string_view data) {
  for (char ch : data) {
    h ^= static_cast<unsigned char>(ch);
    h *= 1099511628211ULL;
  }
  return h;
}
constexpr std::uint64_t kFnvBasis = 14695981039346656037ULL;

class Client {
 public:
  explicit Client(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  bool send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads until `pred(buffer)` holds, EOF, or the deadline; returns the bytes.
  template <class Pred>
  std::string read_until(Pred pred, std::chrono::milliseconds limit = 5000ms) {
    auto deadline = SteadyClock::now() + limit;
    while (!pred(buf_) && SteadyClock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      buf_.append(tmp, static_cast<std::size_t>(n));
    }
    return buf_;
  }
  std::string read_to_eof(std::chrono::milliseconds limit = 5000ms) {
    return read_until([&](const std::string&) { return eof_; }, limit);
  }
  // One full response with Content-Length (or none); removed from the buffer.
  std::string response(std::chrono::milliseconds limit = 5000ms) {
    auto complete = [](const std::string& b) -> std::size_t {
      auto end = b.find("\r\n\r\n");
      if (end == std::string::npos) return 0;
      std::size_t len = 0;
      auto cl = b.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) len = std::stoul(b.substr(cl + 16));
      return b.size() >= end + 4 + len ? end + 4 + len : 0;
    };
    read_until([&](const std::string& b) { return complete(b) > 0; }, limit);
    std::size_t n = complete(buf_);
    std::string out = buf_.substr(0, n);
    buf_.erase(0, n);
    return out;
  }
  bool eof() const { return eof_; }
  // The head of a response without a body (HEAD, 204); removed from the buffer.
  std::string head() {
    read_until([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; });
    auto end = buf_.find("\r\n\r\n");
    std::string out = end == std::string::npos ? buf_ : buf_.substr(0, end + 4);
    buf_.erase(0, out.size());
    return out;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  bool eof_ = false;
  std::string buf_;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    router_.get("/hello", [](ServerRequest&, Response& res) {
      res.header("Content-Type", "text/plain").send("Hello, World!");
    });
    router_.get("/users/:id", [](ServerRequest& req, Response& res) {
      res.send("user " + std::string(req.param("id")) + " q=" + req.query_param("q"));
    });
    router_.post("/echo", [](ServerRequest& req, Response& res) { res.send(req.body); });
    router_.get("/async", [this](ServerRequest&, Response& res) {
      AsyncResponse later = res.defer();
      std::thread([later, this]() mutable {
        std::this_thread::sleep_for(50ms);
        later.send(200, {{"X-Async", "yes"}}, "later");
        ++async_done_;
      }).detach();
    });
    router_.get("/stream", [](ServerRequest&, Response& res) {
      res.begin_stream();
      res.write("one,");
      res.write("two");
      res.end_stream();
    });
    router_.stream(Method::kPost, "/upload", [this](ServerRequest& req, Response&) {
      req.on_body([this, h = kFnvBasis, n = std::uint64_t{0}](std::string_view piece, bool last,
                                                              Response& res) mutable {
        h = fnv1a(h, piece);
        n += piece.size();
        if (last) {
          upload_hash_ = h;
          res.send(std::to_string(n) + " " + std::to_string(h));
        }
      });
    });
  }
  void TearDown() override {
    if (server_) server_->stop(0ms);
    // Deferred answers from detached threads must land before the server dies.
    auto deadline = SteadyClock::now() + 2s;
    while (async_started_ != async_done_ && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  }
  void start(ServerOptions options = {}) {
    options.tcp.listen.push_back(*net::InetAddress::parse("127.0.0.1:0"));
    server_ = std::make_unique<HttpServer>(options, router_);
    ASSERT_TRUE(server_->start().ok());
  }
  std::uint16_t port() const { return server_->port(); }
  bool wait_live_zero() {
    auto deadline = SteadyClock::now() + 2s;
    while (server_->tcp().live_connections() != 0 && SteadyClock::now() < deadline)
      std::this_thread::sleep_for(5ms);
    return server_->tcp().live_connections() == 0;
  }

  Router router_;
  std::unique_ptr<HttpServer> server_;
  std::atomic<int> async_started_{0};
  std::atomic<int> async_done_{0};
  std::uint64_t upload_hash_ = 0;
};

TEST_F(HttpServerTest, AnswersWithServerDateAndLength) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r = c.response();
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("\r\nServer: sluice\r\n"), std::string::npos);
  EXPECT_NE(r.find("\r\nDate: "), std::string::npos);
  EXPECT_NE(r.find("\r\nContent-Length: 13\r\n"), std::string::npos);
  EXPECT_EQ(r.find("Connection:"), std::string::npos);  // 1.1 persists by default
  EXPECT_EQ(r.substr(r.size() - 13), "Hello, World!");
  // Persistent: a second request on the same connection.
  ASSERT_TRUE(c.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(c.response().rfind("HTTP/1.1 200", 0), 0u);
}

TEST_F(HttpServerTest, HundredPipelinedRequestsAnsweredInOrder) {
  start();
  Client c(port());
  std::string batch;
  for (int i = 0; i < 100; ++i)
    batch += "GET /users/" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(c.send_all(batch));
  for (int i = 0; i < 100; ++i) {
    std::string r = c.response();
    std::string want = "user " + std::to_string(i) + " q=";
    ASSERT_EQ(r.substr(r.size() - want.size()), want) << "response " << i;
  }
}

TEST_F(HttpServerTest, ConnectionCloseAndHttp10KeepAliveRules) {
  start();
  {
    Client c(port());
    ASSERT_TRUE(c.send_all("GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::string all = c.read_to_eof();
    EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
    EXPECT_TRUE(c.eof());
  }
  {
    Client c(port());
    ASSERT_TRUE(c.send_all("GET /hello HTTP/1.0\r\n\r\n"));
    std::string all = c.read_to_eof();
    EXPECT_EQ(all.rfind("HTTP/1.1 200 OK", 0), 0u);
    EXPECT_TRUE(c.eof());  // 1.0 without keep-alive closes
  }
  {
    Client c(port());
    ASSERT_TRUE(c.send_all("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    std::string r = c.response();
    EXPECT_NE(r.find("Connection: keep-alive\r\n"), std::string::npos);
    ASSERT_TRUE(c.send_all("GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_EQ(c.response().rfind("HTTP/1.1 200", 0), 0u);
  }
}

TEST_F(HttpServerTest, HeadOptionsMethodNotAllowedNotFoundNotImplemented) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send_all("HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string head = c.head();
  EXPECT_NE(head.find("Content-Length: 13\r\n"), std::string::npos);
  ASSERT_TRUE(c.send_all("OPTIONS /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string opt = c.head();
  EXPECT_EQ(opt.find("Hello"), std::string::npos);  // HEAD sent no body before it
  EXPECT_EQ(opt.rfind("HTTP/1.1 204", 0), 0u) << opt;
  EXPECT_NE(opt.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos) << opt;
  Client d(port());
  ASSERT_TRUE(d.send_all("DELETE /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string r405 = d.response();
  EXPECT_EQ(r405.rfind("HTTP/1.1 405", 0), 0u);
  EXPECT_NE(r405.find("Allow: GET, HEAD, OPTIONS\r\n"), std::string::npos);
  ASSERT_TRUE(d.send_all("GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(d.response().rfind("HTTP/1.1 404", 0), 0u);
  ASSERT_TRUE(d.send_all("BREW /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(d.response().rfind("HTTP/1.1 501", 0), 0u);
}

TEST_F(HttpServerTest, BadRequestGetsAnAnswerThenALingeringClose) {
  start();
  Client c(port());
  // Garbage after the bad head must not turn the answer into a reset.
  std::string junk(200'000, 'x');
  ASSERT_TRUE(c.send_all("GET /hello HTTP/1.1\r\nHost : x\r\n\r\n"));
  c.send_all(junk);
  std::string all = c.read_to_eof();
  EXPECT_EQ(all.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << all.substr(0, 200);
  EXPECT_NE(all.find("Connection: close\r\n"), std::string::npos);
  EXPECT_TRUE(c.eof());
  EXPECT_EQ(server_->counters().bad_requests.load(), 1u);
}

TEST_F(HttpServerTest, BodiesByLengthAndChunkedReachTheHandler) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"));
  std::string r = c.response();
  EXPECT_EQ(r.substr(r.size() - 5), "hello");
  ASSERT_TRUE(
      c.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: t\r\n\r\n"));
  r = c.response();
  EXPECT_EQ(r.substr(r.size() - 7), "abcdefg") << r;
  // A body of 900 KiB: the input buffer grows (and moves) while it arrives,
  // and the handler still sees the head and the whole body.
  std::string big(900 << 10, 'z');
  big[12345] = 'q';
  ASSERT_TRUE(c.send_all("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                         std::to_string(big.size()) + "\r\n\r\n"));
  ASSERT_TRUE(c.send_all(big));
  r = c.response();
  ASSERT_GE(r.size(), big.size());
  EXPECT_EQ(r.substr(r.size() - big.size()), big);
}

TEST_F(HttpServerTest, ExpectContinueIsHonouredAndRefusedWhenTooLarge) {
  ServerOptions o;
  o.max_buffered_body = 1000;
  start(o);
  Client c(port());
  ASSERT_TRUE(c.send_all(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"));
  std::string cont = c.head();
  EXPECT_EQ(cont.rfind("HTTP/1.1 100 Continue\r\n\r\n", 0), 0u) << cont;
  ASSERT_TRUE(c.send_all("data"));
  std::string r =
      c.read_until([](const std::string& b) { return b.find("data") != std::string::npos; });
  EXPECT_NE(r.find("200 OK"), std::string::npos);
  Client d(port());
  ASSERT_TRUE(d.send_all(
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n"));
  std::string refused = d.read_to_eof();
  EXPECT_EQ(refused.rfind("HTTP/1.1 413", 0), 0u) << refused;
  EXPECT_EQ(refused.find("100 Continue"), std::string::npos);
}

TEST_F(HttpServerTest, MaxRequestsPerConnectionClosesAfterTheLast) {
  ServerOptions o;
  o.max_requests_per_connection = 3;
  start(o);
  Client c(port());
  ASSERT_TRUE(
      c.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
                 "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string all = c.read_to_eof();
  std::size_t n = 0;
  for (std::size_t p = 0; (p = all.find("HTTP/1.1 200", p)) != std::string::npos; ++p) ++n;
  EXPECT_EQ(n, 3u);
  EXPECT_EQ(all.find("Connection: close"), all.rfind("Connection: close"));  // only the last
  EXPECT_NE(all.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(c.eof());
}

TEST_F(HttpServerTest, AsyncAnswerFromAnotherThreadKeepsPipelineOrder) {
  start();
  async_started_ = 1;
  Client c(port());
  ASSERT_TRUE(
      c.send_all("GET /async HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
  std::string first = c.response();
  std::string second = c.response();
  EXPECT_NE(first.find("X-Async: yes\r\n"), std::string::npos) << first;
  EXPECT_EQ(first.substr(first.size() - 5), "later");
  EXPECT_EQ(second.substr(second.size() - 13), "Hello, World!");
}

TEST_F(HttpServerTest, AsyncAnswerForAClientThatLeftIsDropped) {
  start();
  async_started_ = 1;
  {
    Client c(port());
    ASSERT_TRUE(c.send_all("GET /async HTTP/1.1\r\nHost: x\r\n\r\n"));
  }  // gone before the answer
  auto deadline = SteadyClock::now() + 2s;
  while (async_done_ == 0 && SteadyClock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(async_done_.load(), 1);
  // The server is fine: another client is served.
  {
    Client d(port());
    ASSERT_TRUE(d.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(d.response().rfind("HTTP/1.1 200", 0), 0u);
  }
  EXPECT_TRUE(wait_live_zero());  // the abandoned connection is gone too
}

TEST_F(HttpServerTest, ChunkedStreamResponse) {
  start();
  Client c(port());
  ASSERT_TRUE(c.send_all("GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  std::string all = c.read_to_eof();
  EXPECT_NE(all.find("Transfer-Encoding: chunked\r\n"), std::string::npos);
  EXPECT_NE(all.find("\r\n\r\n4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"), std::string::npos) << all;
}

TEST_F(HttpServerTest, SlowClientOneBytePer10msIsServed) {
  start();
  Client c(port());
  std::string req = "GET /users/7?q=a%20b HTTP/1.1\r\nHost: x\r\n\r\n";
  for (char ch : req) {
    ASSERT_TRUE(c.send_all(std::string_view(&ch, 1)));
    std::this_thread::sleep_for(10ms);
  }
  std::string r = c.response();
  EXPECT_EQ(r.substr(r.size() - 12), "user 7 q=a b") << r;
}

TEST_F(HttpServerTest, UnfinishedHeadIsClosedAfterTheHeaderTimeout) {
  ServerOptions o;
  o.header_timeout = 300ms;
  start(o);
  Client c(port());
  auto t0 = SteadyClock::now();
  ASSERT_TRUE(c.send_all("GET /hello HTTP/1.1\r\nHost: x\r\n"));
  // Keep trickling header bytes: the deadline is for the whole head.
  for (int i = 0; i < 20 && !c.eof(); ++i) {
    c.send_all("X-Slow: 1\r\n");
    c.read_until([](const std::string&) { return false; }, 50ms);
  }
  c.read_to_eof(3000ms);
  EXPECT_TRUE(c.eof());
  auto took = SteadyClock::now() - t0;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2000ms);
  // Counted on the server's loop right after the close the client saw.
  auto deadline = SteadyClock::now() + 2s;
  while (server_->counters().header_timeouts.load() == 0 && SteadyClock::now() < deadline)
    std::this_thread::sleep_for(2ms);
  EXPECT_EQ(server_->counters().header_timeouts.load(), 1u);
}

TEST_F(HttpServerTest, HundredMegabyteChunkedUploadChecksumMatches) {
  ServerOptions o;
  o.limits.max_body_size = 200ull << 20;
  o.limits.max_chunk_count = 1'000'000;
  start(o);
  Client c(port());
  std::uint64_t expect = kFnvBasis;
  ASSERT_TRUE(c.send_all("POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"));
  std::string chunk(64 << 10, '\0');
  const std::size_t total = 100u << 20;
  std::thread writer([&] {
    for (std::size_t sent = 0, i = 0; sent < total; sent += chunk.size(), ++i) {
      for (std::size_t k = 0; k < chunk.size(); k += 512) chunk[k] = static_cast<char>(i + k);
      expect = fnv1a(expect, chunk);
      char size[32];
      int n = std::snprintf(size, sizeof size, "%zx\r\n", chunk.size());
      if (!c.send_all(std::string_view(size, static_cast<std::size_t>(n))) || !c.send_all(chunk) ||
          !c.send_all("\r\n"))
        return;
    }
    c.send_all("0\r\n\r\n");
  });
  writer.join();
  std::string r = c.response(60'000ms);
  EXPECT_NE(r.find(std::to_string(total) + " " + std::to_string(expect)), std::string::npos) << r;
}

TEST_F(HttpServerTest, CurlAbAndWrkRunWithoutErrors) {
  start();
  std::string url = "http://127.0.0.1:" + std::to_string(port()) + "/hello";
  if (std::string(CURL_PATH).find("NOTFOUND") == std::string::npos) {
    std::string cmd = std::string(CURL_PATH) + " -sf " + url + " -o /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
  }
  if (std::string(AB_PATH).find("NOTFOUND") == std::string::npos) {
    std::string cmd = std::string(AB_PATH) + " -q -n 2000 -c 20 -k " + url + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0);
    EXPECT_NE(out.find("Failed requests:        0"), std::string::npos) << out;
    EXPECT_NE(out.find("Complete requests:      2000"), std::string::npos) << out;
  }
  if (std::string(WRK_PATH).find("NOTFOUND") == std::string::npos) {
    std::string cmd = std::string(WRK_PATH) + " -t1 -c20 -d1s " + url + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
    EXPECT_EQ(::pclose(p), 0);
    EXPECT_NE(out.find("requests in"), std::string::npos) << out;
    EXPECT_EQ(out.find("Socket errors"), std::string::npos) << out;
    EXPECT_EQ(out.find("Non-2xx"), std::string::npos) << out;
  }
  if (std::string(CURL_PATH).find("NOTFOUND") != std::string::npos &&
      std::string(AB_PATH).find("NOTFOUND") != std::string::npos &&
      std::string(WRK_PATH).find("NOTFOUND") != std::string::npos)
    GTEST_SKIP() << "none of curl, ab, wrk is installed";
}

}  // namespace
}  // namespace sluice::http
