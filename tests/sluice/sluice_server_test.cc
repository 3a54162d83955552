// The sluice binary end to end: each test starts its own server on
// 127.0.0.1 with a free port and a temporary root, talks to it with raw
// sockets (and curl, and a headless browser), and stops it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kSecret = "TOP-SECRET-0b5f1c";

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
}

template <class F>
bool wait_until(F pred, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return pred();
}

struct Reply {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking HTTP/1.1 client on one keep-alive connection.
class Client {
 public:
  explicit Client(int port, int timeout_s = 30) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{timeout_s, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() { ::close(fd_); }
  bool ok() const { return ok_; }
  int fd() const { return fd_; }

  bool send_raw(const std::string& bytes) {
    std::size_t done = 0;
    while (done < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<std::size_t>(n);
    }
    return true;
  }

  // Reads one response; HEAD (or 304) answers have no body. With `sink`,
  // the body goes to it instead of Reply::body.
  std::optional<Reply> read_reply(bool head = false,
                                  const std::function<void(const char*, std::size_t)>& sink = {}) {
    Reply r;
    std::size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    std::string head_text = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    std::istringstream lines(head_text);
    std::string line;
    std::getline(lines, line);
    if (line.size() < 12) return std::nullopt;
    r.status = std::stoi(line.substr(9, 3));
    while (std::getline(lines, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      r.headers[name] = value;
    }
    if (head || r.status == 304 || r.status == 204) return r;
    std::uint64_t length =
        std::stoull(r.header("content-length").empty() ? "0" : r.header("content-length"));
    std::uint64_t got = 0;
    while (got < length) {
      if (buf_.empty() && !fill()) return std::nullopt;
      std::size_t take =
          static_cast<std::size_t>(std::min<std::uint64_t>(buf_.size(), length - got));
      if (sink)
        sink(buf_.data(), take);
      else
        r.body.append(buf_, 0, take);
      buf_.erase(0, take);
      got += take;
    }
    return r;
  }

  std::optional<Reply> get(const std::string& target, const std::string& extra = "",
                           const std::string& method = "GET") {
    if (!send_raw(method + " " + target + " HTTP/1.1\r\nHost: t\r\n" + extra + "\r\n"))
      return std::nullopt;
    return read_reply(method == "HEAD");
  }

  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<std::size_t>(n));
    return true;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string buf_;
};

struct RunResult {
  int code = -1;
  std::string output;
};

// Runs the binary to completion (for -t and -s), bounded in time.
RunResult run_sluice(const std::vector<std::string>& args, const fs::path& out_file) {
  std::vector<std::string> all = {SLUICE_BIN};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = 0;
  RunResult r;
  if (posix_spawn(&pid, SLUICE_BIN, &fa, nullptr, argv.data(), environ) != 0) return r;
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  bool done = wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 60s);
  if (!done) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.output = slurp(out_file);
  return r;
}

class SluiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sluice-e2e-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    root_ = dir_ / "root";
    fs::create_directories(root_);
    spit(dir_ / "secret.txt", kSecret);
    spit(root_ / "index.html", "<h1>home</h1>\n");
    port_ = free_port();
  }

  void TearDown() override {
    stop(SIGTERM);
    // A sanitizer report from the master or a worker fails the test.
    std::string err = slurp(dir_ / "stderr.log");
    EXPECT_EQ(err.find("Sanitizer"), std::string::npos) << err;
    EXPECT_EQ(err.find("runtime error:"), std::string::npos) << err;
    fs::remove_all(dir_);
  }

  // The configuration every test starts from; `extra` is appended.
  std::string base_config(const std::string& extra = "", int workers = 1) const {
    return "listen = \"127.0.0.1:" + std::to_string(port_) +
           "\"\nworkers = " + std::to_string(workers) + "\nroot = \"" + root_.string() +
           "\"\npid_file = \"" + (dir_ / "sluice.pid").string() + "\"\n" + extra +
           "\n[error_log]\npath = \"" + (dir_ / "error.log").string() + "\"\n";
  }

  fs::path write_config(const std::string& text) {
    fs::path p = dir_ / "sluice.toml";
    spit(p, text);
    return p;
  }

  // Starts `sluice --config <config> args...` and waits until it answers.
  void start(const std::string& config, std::vector<std::string> args = {}, int port = 0) {
    fs::path p = write_config(config);
    std::vector<std::string> all = {SLUICE_BIN, "--config", p.string()};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, (dir_ / "stderr.log").c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_EQ(posix_spawn(&pid_, SLUICE_BIN, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int p2 = port ? port : port_;
    bool up = wait_until(
        [&] {
          Client c(p2, 5);
          if (!c.ok()) return false;
          auto r = c.get("/__ready_probe__");
          return r.has_value();
        },
        30s);
    ASSERT_TRUE(up) << "sluice did not come up: " << slurp(dir_ / "stderr.log")
                    << slurp(dir_ / "error.log");
  }

  // Signals the master and waits (bounded) for it to exit; its exit code.
  int stop(int signo) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, signo);
    int status = 0;
    bool done = wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 30s);
    if (!done) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  Reply must_get(const std::string& target, const std::string& extra = "",
                 const std::string& method = "GET") {
    Client c(port_);
    EXPECT_TRUE(c.ok());
    auto r = c.get(target, extra, method);
    EXPECT_TRUE(r.has_value()) << target;
    return r.value_or(Reply{});
  }

  fs::path dir_;
  fs::path root_;
  int port_ = 0;
  pid_t pid_ = -1;
};

TEST_F(SluiceTest, ServesIndexAndMimeTypes) {
  fs::create_directories(root_ / "sub");
  fs::create_directories(root_ / "empty");
  spit(root_ / "sub" / "index.html", "sub index");
  spit(root_ / "a.css", "body{}");
  spit(root_ / "a.json", "{}");
  spit(root_ / "a.png", "\x89PNG");
  spit(root_ / "a.unknownext", "x");
  spit(root_ / "a.foo", "foo");
  start(base_config("[mime_types]\nfoo = \"text/x-foo\""));
  Reply r = must_get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>home</h1>\n");
  EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(must_get("/sub/").body, "sub index");
  Reply redirect = must_get("/sub?x=1");
  EXPECT_EQ(redirect.status, 301);
  EXPECT_EQ(redirect.header("location"), "/sub/?x=1");
  EXPECT_EQ(must_get("/empty/").status, 403);  // no index, no listing
  EXPECT_EQ(must_get("/missing.html").status, 404);
  EXPECT_EQ(must_get("/a.css/").status, 404);
  EXPECT_EQ(must_get("/a.css").header("content-type"), "text/css; charset=utf-8");
  EXPECT_EQ(must_get("/a.json").header("content-type"), "application/json");
  EXPECT_EQ(must_get("/a.png").header("content-type"), "image/png");
  EXPECT_EQ(must_get("/a.unknownext").header("content-type"), "application/octet-stream");
  EXPECT_EQ(must_get("/a.foo").header("content-type"), "text/x-foo");
  Reply post = must_get("/a.css", "Content-Length: 0\r\n", "POST");
  EXPECT_EQ(post.status, 405);
}

TEST_F(SluiceTest, ConditionalRangeAndHead) {
  std::string body;
  for (int i = 0; i < 1000; ++i) body += static_cast<char>('a' + i % 26);
  spit(root_ / "f.txt", body);
  start(base_config());
  Reply full = must_get("/f.txt");
  ASSERT_EQ(full.status, 200);
  EXPECT_EQ(full.body, body);
  std::string etag = full.header("etag");
  std::string lm = full.header("last-modified");
  ASSERT_FALSE(etag.empty());
  ASSERT_FALSE(lm.empty());
  EXPECT_EQ(full.header("accept-ranges"), "bytes");

  Reply nm = must_get("/f.txt", "If-None-Match: " + etag + "\r\n");
  EXPECT_EQ(nm.status, 304);
  EXPECT_EQ(nm.header("etag"), etag);
  EXPECT_EQ(must_get("/f.txt", "If-None-Match: \"other\"\r\n").status, 200);
  EXPECT_EQ(must_get("/f.txt", "If-Modified-Since: " + lm + "\r\n").status, 304);
  EXPECT_EQ(must_get("/f.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT\r\n").status, 200);

  Reply part = must_get("/f.txt", "Range: bytes=10-19\r\n");
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, body.substr(10, 10));
  EXPECT_EQ(part.header("content-range"), "bytes 10-19/1000");
  Reply suffix = must_get("/f.txt", "Range: bytes=-5\r\n");
  EXPECT_EQ(suffix.status, 206);
  EXPECT_EQ(suffix.body, body.substr(995));
  Reply bad = must_get("/f.txt", "Range: bytes=1000-\r\n");
  EXPECT_EQ(bad.status, 416);
  EXPECT_EQ(bad.header("content-range"), "bytes */1000");
  EXPECT_EQ(must_get("/f.txt", "Range: bytes=0-1\r\nIf-Range: " + etag + "\r\n").status, 206);
  Reply stale = must_get("/f.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.body.size(), 1000u);
  EXPECT_EQ(must_get("/f.txt", "Range: bytes=0-1\r\nIf-Range: " + lm + "\r\n").status, 206);

  Client c(port_);
  auto head = c.get("/f.txt", "", "HEAD");
  ASSERT_TRUE(head);
  EXPECT_EQ(head->status, 200);
  EXPECT_EQ(head->header("content-length"), "1000");
  // The same connection still works: the HEAD answer carried no body.
  auto after = c.get("/index.html");
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "<h1>home</h1>\n");
}

TEST_F(SluiceTest, CurlAgrees) {
  if (::access("/usr/bin/curl", X_OK) != 0) GTEST_SKIP() << "curl is not installed";
  spit(root_ / "c.txt", "0123456789");
  start(base_config());
  fs::path out = dir_ / "curl.out";
  std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/c.txt";
  std::string cmd = "curl -s -m 20 -r 2-4 -o " + out.string() + " -w '%{http_code}' " + url +
                    " > " + (dir_ / "code").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(slurp(dir_ / "code"), "206");
  EXPECT_EQ(slurp(out), "234");
  cmd = "curl -s -m 20 -I " + url + " > " + out.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_NE(slurp(out).find("Content-Length: 10"), std::string::npos);
}

TEST_F(SluiceTest, TraversalNeverLeaksOutsideTheRoot) {
  fs::create_directories(root_ / "d");
  fs::create_symlink(dir_ / "secret.txt", root_ / "abs-link");
  fs::create_symlink("../secret.txt", root_ / "rel-link");
  fs::create_symlink("..", root_ / "up");
  fs::create_symlink("../../secret.txt", root_ / "d" / "deep-link");
  spit(root_ / "d" / "ok.txt", "inside");
  fs::create_symlink("ok.txt", root_ / "d" / "inner-link");
  start(base_config());
  const std::vector<std::string> attacks = {
      "/../secret.txt",
      "/%2e%2e/secret.txt",
      "/%2E%2E%2Fsecret.txt",
      "/..%2fsecret.txt",
      "/..%2Fsecret.txt",
      "/d/..%2f..%2fsecret.txt",
      "/..%5csecret.txt",
      "/d/%2e%2e/%2e%2e/secret.txt",
      "/%00",
      "/index.html%00.txt",
      "/%c0%ae%c0%ae/secret.txt",
      "/%c0%ae%c0%ae%c0%afsecret.txt",
      "/%e0%80%ae%e0%80%ae/secret.txt",
      "//../secret.txt",
      "/./../secret.txt",
      "/d/../../secret.txt",
      "/%252e%252e/secret.txt",
      "/abs-link",
      "/rel-link",
      "/up/secret.txt",
      "/d/deep-link",
      "/up/",
      "/./.././../secret.txt",
      "/d/./../../../secret.txt",
  };
  for (const std::string& target : attacks) {
    Client c(port_);
    auto reply = c.get(target);
    if (reply) {
      EXPECT_TRUE(reply->status == 400 || reply->status == 403 || reply->status == 404)
          << target << " -> " << reply->status;
      EXPECT_EQ(reply->body.find(kSecret), std::string::npos) << target;
    }
  }
  // The raw bytes of every answer, too.
  for (const std::string& target : attacks) {
    Client c(port_);
    c.send_raw("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    std::string raw;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(c.fd(), buf, sizeof buf, 0)) > 0)
      raw.append(buf, static_cast<std::size_t>(n));
    EXPECT_EQ(raw.find(kSecret), std::string::npos) << target;
  }
  EXPECT_EQ(must_get("/d/inner-link").body, "inside");  // a link inside the root is fine
  EXPECT_EQ(must_get("/abs-link").status, 403);
  EXPECT_EQ(must_get("/rel-link").status, 403);
}

TEST_F(SluiceTest, DirectoryListingEscapesNames) {
  fs::create_directories(root_ / "files");
  spit(root_ / "files" / "<b>&\"x'.txt", "x");
  spit(root_ / "files" / "plain.txt", "x");
  start(base_config("directory_listing = true"));
  Reply r = must_get("/files/");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("&lt;b&gt;&amp;&quot;x&#39;.txt"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("<b>&"), std::string::npos);
  EXPECT_NE(r.body.find("href=\"plain.txt\""), std::string::npos);
  EXPECT_NE(r.body.find("href=\"%3Cb%3E%26%22x%27.txt\""), std::string::npos) << r.body;
}

TEST_F(SluiceTest, StreamsAOneGigabyteSparseFileWithSendfile) {
  const std::uint64_t size = std::uint64_t{1} << 30;
  {
    int fd = ::open((root_ / "big.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    for (std::uint64_t off : {std::uint64_t{0}, std::uint64_t{123456789}, size - 1}) {
      char b = 'Z';
      ASSERT_EQ(::pwrite(fd, &b, 1, static_cast<off_t>(off)), 1);
    }
    ::close(fd);
  }
  // A position-weighted sum: zeros add nothing, so the expected value is
  // known without reading the file.
  const std::uint64_t expected = 'Z' * (0 + 1) + 'Z' * (123456789ULL + 1) + 'Z' * size;
  start(base_config());
  Client c(port_, 120);
  ASSERT_TRUE(c.send_raw("GET /big.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  std::uint64_t pos = 0, sum = 0;
  auto r = c.read_reply(false, [&](const char* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i, ++pos)
      if (p[i]) sum += static_cast<std::uint64_t>(static_cast<unsigned char>(p[i])) * (pos + 1);
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(pos, size);
  EXPECT_EQ(sum, expected);
}

TEST_F(SluiceTest, TenThousandFilesOverAHundredKeepAliveConnections) {
  constexpr int kFiles = 10'000;
  constexpr int kConnections = 100;
  fs::create_directories(root_ / "many");
  for (int i = 0; i < kFiles; ++i)
    spit(root_ / "many" / (std::to_string(i) + ".txt"), "file " + std::to_string(i) + "\n");
  start(base_config("[limits]\nrequests_per_connection = 100000", 2));
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, t] {
      Client c(port_, 60);
      if (!c.ok()) return;
      for (int i = t; i < kFiles; i += kConnections) {
        auto r = c.get("/many/" + std::to_string(i) + ".txt");
        if (!r) return;
        if (r->status == 200 && r->body == "file " + std::to_string(i) + "\n") ++good;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(good.load(), kFiles);
}

TEST_F(SluiceTest, ConfigTestReportsLineAndExitCode) {
  fs::path out = dir_ / "t.out";
  fs::path good = write_config(base_config());
  RunResult ok = run_sluice({"-t", "--config", good.string()}, out);
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_NE(ok.output.find("is ok"), std::string::npos);

  spit(dir_ / "bad.toml", "workers = 1\n[timeouts]\nheader = \"soon\"\n");
  RunResult bad = run_sluice({"-t", "--config", (dir_ / "bad.toml").string()}, out);
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.output.find("bad.toml:3:"), std::string::npos) << bad.output;
  EXPECT_NE(bad.output.find("timeouts.header"), std::string::npos) << bad.output;

  spit(dir_ / "unknown.toml", "\n\nlisten = \"127.0.0.1:1\"\nlissen = 2\n");
  RunResult unknown = run_sluice({"-t", "--config", (dir_ / "unknown.toml").string()}, out);
  EXPECT_EQ(unknown.code, 1);
  EXPECT_NE(unknown.output.find("unknown.toml:4:"), std::string::npos) << unknown.output;
  EXPECT_NE(unknown.output.find("lissen: unknown key"), std::string::npos) << unknown.output;

  RunResult flag = run_sluice({"-t", "--config", good.string(), "--workers", "zero"}, out);
  EXPECT_EQ(flag.code, 1);
  EXPECT_NE(flag.output.find("--workers"), std::string::npos);
  EXPECT_EQ(run_sluice({"--version"}, out).code, 0);
  EXPECT_EQ(run_sluice({"--help"}, out).code, 0);
  EXPECT_EQ(run_sluice({"--bogus"}, out).code, 2);
}

TEST_F(SluiceTest, FlagsOverrideTheFileAlsoOnReload) {
  fs::create_directories(dir_ / "a");
  fs::create_directories(dir_ / "b");
  fs::create_directories(dir_ / "c");
  spit(dir_ / "a" / "which.txt", "a");
  spit(dir_ / "b" / "which.txt", "b");
  spit(dir_ / "c" / "which.txt", "c");
  int flag_port = free_port();
  std::string cfg = base_config();
  std::string with_a = std::regex_replace(cfg, std::regex("root = \"[^\"]*\""),
                                          "root = \"" + (dir_ / "a").string() + "\"");
  start(with_a,
        {"--root", (dir_ / "b").string(), "--listen", "127.0.0.1:" + std::to_string(flag_port)},
        flag_port);
  {
    Client c(flag_port);
    auto r = c.get("/which.txt");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, "b");
  }
  EXPECT_FALSE(Client(port_).ok());  // the file's listen address is overridden
  // Reload with the file pointing at c: the flag still wins.
  write_config(std::regex_replace(cfg, std::regex("root = \"[^\"]*\""),
                                  "root = \"" + (dir_ / "c").string() + "\""));
  ::kill(pid_, SIGHUP);
  std::this_thread::sleep_for(1500ms);
  Client c(flag_port);
  auto r = c.get("/which.txt");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->body, "b");
}

TEST_F(SluiceTest, ReloadThroughDashSPicksUpANewRoot) {
  fs::create_directories(dir_ / "new");
  spit(root_ / "which.txt", "old");
  spit(dir_ / "new" / "which.txt", "new");
  std::string cfg = base_config();
  start(cfg);
  EXPECT_EQ(must_get("/which.txt").body, "old");
  fs::path p = write_config(std::regex_replace(cfg, std::regex("root = \"[^\"]*\""),
                                               "root = \"" + (dir_ / "new").string() + "\""));
  RunResult r = run_sluice({"--config", p.string(), "-s", "reload"}, dir_ / "s.out");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_TRUE(wait_until([&] { return must_get("/which.txt").body == "new"; }, 20s));
  // A reload with a broken file keeps the running configuration.
  spit(p, cfg + "\nbroken = true\n");
  ASSERT_EQ(
      run_sluice({"--pid-file", (dir_ / "sluice.pid").string(), "-s", "reload"}, dir_ / "s.out")
          .code,
      0);
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(must_get("/which.txt").body, "new");
}

TEST_F(SluiceTest, ReopenWritesANewAccessLog) {
  fs::path log = dir_ / "access.log";
  start(base_config("[access_log]\npath = \"" + log.string() + "\""));
  must_get("/index.html", "User-Agent: first-agent\r\n");
  ASSERT_TRUE(wait_until([&] { return slurp(log).find("first-agent") != std::string::npos; }, 10s))
      << "the access log is flushed within a second";
  std::string line = slurp(log);
  EXPECT_TRUE(std::regex_search(
      line,
      std::regex(
          R"(127\.0\.0\.1 - - \[[^\]]+\] "GET /index\.html HTTP/1\.1" 200 14 "-" "first-agent" \d+\.\d{3})")))
      << line;
  fs::rename(log, dir_ / "access.log.1");
  RunResult r =
      run_sluice({"--pid-file", (dir_ / "sluice.pid").string(), "-s", "reopen"}, dir_ / "s.out");
  ASSERT_EQ(r.code, 0) << r.output;
  // The worker reopens a moment after `-s reopen` returns: requests made
  // before that still go to the renamed file. Each try has its own agent;
  // the one that lands in the new file must not be in the old one.
  int attempt = 0;
  std::string agent;
  ASSERT_TRUE(wait_until(
      [&] {
        agent = "second-agent-" + std::to_string(++attempt);
        must_get("/index.html", "User-Agent: " + agent + "\r\n");
        return wait_until([&] { return slurp(log).find(agent + "\"") != std::string::npos; },
                          1500ms);
      },
      15s));
  EXPECT_EQ(slurp(dir_ / "access.log.1").find(agent + "\""), std::string::npos);
}

TEST_F(SluiceTest, QuitDrainsAResponseInFlight) {
  const std::uint64_t size = std::uint64_t{64} << 20;
  {
    int fd = ::open((root_ / "drain.bin").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
    ::close(fd);
  }
  start(base_config());
  Client c(port_, 60);
  // The client reads nothing more until the quit was sent: most of the 64 MiB
  // are still in the server's hands.
  ASSERT_TRUE(c.send_raw("GET /drain.bin HTTP/1.1\r\nHost: t\r\n\r\n"));
  ASSERT_TRUE(c.fill());  // the answer has begun
  RunResult r =
      run_sluice({"--pid-file", (dir_ / "sluice.pid").string(), "-s", "quit"}, dir_ / "s.out");
  ASSERT_EQ(r.code, 0) << r.output;
  std::this_thread::sleep_for(300ms);
  std::uint64_t got = 0;
  auto reply = c.read_reply(false, [&](const char*, std::size_t n) { got += n; });
  ASSERT_TRUE(reply);
  EXPECT_EQ(got, size);
  int status = 0;
  EXPECT_TRUE(wait_until([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, 20s));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  pid_ = -1;
  EXPECT_FALSE(fs::exists(dir_ / "sluice.pid"));
}

TEST_F(SluiceTest, StatusEndpointsCountAcrossWorkers) {
  start(base_config("", 2));
  for (int i = 0; i < 5; ++i) must_get("/index.html");
  Reply text = must_get("/status");
  ASSERT_EQ(text.status, 200);
  EXPECT_NE(text.body.find("Active connections: "), std::string::npos);
  EXPECT_NE(text.body.find("server accepts handled requests"), std::string::npos);
  EXPECT_NE(text.body.find("Workers: 2"), std::string::npos) << text.body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text.body, m, std::regex(R"(\n (\d+) (\d+) (\d+) \n)")));
  EXPECT_GE(std::stoll(m[3]), 6);
  Reply json = must_get("/status?format=json");
  EXPECT_EQ(json.header("content-type"), "application/json");
  EXPECT_NE(json.body.find("\"pool\":{\"held_bytes\":"), std::string::npos);
  Reply prom = must_get("/metrics");
  EXPECT_NE(prom.body.find("# TYPE sluice_http_requests_total counter"), std::string::npos);
  EXPECT_NE(prom.body.find("sluice_pool_blocks_in_use{class=\"4096\"}"), std::string::npos);
}

TEST_F(SluiceTest, StatusRefusesOtherAddresses) {
  start(base_config("[status]\nallow = [\"10.0.0.0/8\"]"));
  EXPECT_EQ(must_get("/status").status, 403);
  EXPECT_EQ(must_get("/metrics").status, 403);
}

TEST_F(SluiceTest, HeadlessBrowserRendersTheDefaultSiteFigures) {
  const char* chromium = "/usr/bin/chromium";
  if (::access(chromium, X_OK) != 0) GTEST_SKIP() << "chromium is not installed";
  // The bundled site: no root in the configuration.
  std::string cfg = std::regex_replace(base_config(), std::regex("root = \"[^\"]*\"\n"), "");
  start(cfg);
  fs::path profile = dir_ / "chromium-profile";
  fs::create_directories(profile);
  fs::path out = dir_ / "dom.html";
  std::string cmd = std::string("timeout 60 ") + chromium +
                    " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                    " --disable-background-networking --disable-component-update --disable-sync"
                    " --disable-dev-shm-usage --virtual-time-budget=3000 --user-data-dir=" +
                    profile.string() + " --dump-dom http://127.0.0.1:" + std::to_string(port_) +
                    "/ > " + out.string() + " 2>" + (dir_ / "chromium.err").string();
  int rc = std::system(cmd.c_str());
  std::string dom = slurp(out);
  if (rc != 0 && dom.empty())
    GTEST_SKIP() << "chromium did not run: " << slurp(dir_ / "chromium.err");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom, m, std::regex(R"re(id="requests">(\d+)<)re"))) << dom;
  EXPECT_GE(std::stoll(m[1]), 1);
  EXPECT_NE(dom.find("class=\"state live\""), std::string::npos);
}

}  // namespace
