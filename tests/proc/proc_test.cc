// The master–worker contract, with real processes and real signals.
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
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

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

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Alive and not a zombie (an orphan waits for init to reap it).
bool alive(pid_t pid) {
  if (::kill(pid, 0) != 0) return false;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

// SIGSTOP, returning once the process is really stopped (kill() returns
// before the target is; meanwhile it could still accept a connection).
void freeze(pid_t pid) {
  ::kill(pid, SIGSTOP);
  for (int i = 0; i < 500; ++i) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close != std::string::npos && close + 2 < text.size() && text[close + 2] == 'T') return;
    ::usleep(1000);
  }
}

// Children of `pid` (the workers of a master).
std::set<pid_t> children_of(pid_t pid) {
  std::set<pid_t> out;
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  pid_t c;
  while (in >> c) out.insert(c);
  return out;
}

template <class F>
bool wait_until(F pred, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return pred();
}

// A blocking client connection with timeouts.
class LineClient {
 public:
  explicit LineClient(int port, int timeout_ms = 2000) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~LineClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  // Sends one request; returns the reply line, or "" on any failure.
  std::string request() {
    if (::send(fd_, "PING\n", 5, MSG_NOSIGNAL) != 5) return "";
    std::string line;
    char ch;
    while (true) {
      ssize_t n = ::recv(fd_, &ch, 1, 0);
      if (n <= 0) return "";
      if (ch == '\n') return line;
      line.push_back(ch);
    }
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// Field `i` (0-based) of a reply "<reply> <pid> <generation> [close]".
std::string field(const std::string& reply, int i) {
  std::istringstream in(reply);
  std::string f;
  for (int k = 0; k <= i; ++k)
    if (!(in >> f)) return "";
  return f;
}

class ProcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::signal(SIGPIPE, SIG_IGN);
    dir_ = fs::temp_directory_path() /
           ("sluice-proc-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    port_ = free_port();
  }
  void TearDown() override {
    if (master_ > 0 && alive(master_)) {
      auto workers = children_of(master_);
      ::kill(master_, SIGKILL);
      for (pid_t w : workers) ::kill(w, SIGKILL);
    }
    if (master_ > 0) ::waitpid(master_, nullptr, 0);
    fs::remove_all(dir_);
  }

  void write_config(const std::string& extra, int workers = 2) {
    workers_ = workers;
    std::ofstream out(dir_ / "server.conf");
    out << "listen = 127.0.0.1:" << port_ << "\n"
        << "workers = " << workers << "\n"
        << extra;
  }

  void start() {
    std::string conf = (dir_ / "server.conf").string();
    std::string pid = (dir_ / "server.pid").string();
    std::string err = (dir_ / "stderr.log").string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    std::vector<std::string> args = {LINE_SERVER_PATH, "--config", conf, "--pid-file", pid};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ASSERT_EQ(::posix_spawn(&master_, LINE_SERVER_PATH, &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_TRUE(wait_until(
        [&] {
          return !LineClient(port_).request().empty() &&
                 children_of(master_).size() == static_cast<std::size_t>(workers_);
        },
        5000ms))
        << read_file(dir_ / "stderr.log");
  }

  // Waits for the master to exit; its exit status, or -1 on timeout.
  int wait_master(std::chrono::milliseconds limit) {
    auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      int status = 0;
      pid_t r = ::waitpid(master_, &status, WNOHANG);
      if (r == master_) {
        master_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }

  std::string stderr_text() { return read_file(dir_ / "stderr.log"); }

  fs::path dir_;
  int port_ = 0;
  int workers_ = 2;
  pid_t master_ = -1;
};

void kill_worker_respawns_within_a_second(pid_t master, int port, bool shared_socket) {
  auto before = children_of(master);
  ASSERT_EQ(before.size(), 2u);
  // Clients on every worker.
  std::vector<std::unique_ptr<LineClient>> clients;
  std::vector<std::string> served_by;
  auto connect_clients = [&](int n) {
    for (int i = 0; i < n; ++i) {
      clients.push_back(std::make_unique<LineClient>(port));
      std::string r = clients.back()->request();
      ASSERT_FALSE(r.empty());
      served_by.push_back(field(r, 1));
    }
  };
  if (shared_socket) {
    // One shared socket: the kernel may give every connection to one worker,
    // so each worker in turn takes 10 while the other is frozen.
    for (pid_t w : before) {
      for (pid_t other : before)
        if (other != w) freeze(other);
      connect_clients(10);
      for (pid_t other : before)
        if (other != w) ::kill(other, SIGCONT);
    }
  } else {
    connect_clients(20);
  }
  pid_t victim = *before.begin();
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  auto killed_at = Clock::now();
  ASSERT_TRUE(wait_until(
      [&] {
        auto now = children_of(master);
        return now.size() == 2 && !now.count(victim);
      },
      1000ms));
  // Serving: new connections are answered, by the new worker too. With one
  // shared socket the kernel may hand every connection to the survivor, so
  // the survivor is frozen for that check and only the new worker can accept.
  std::set<std::string> pids;
  pid_t survivor = 0;
  for (pid_t p : before)
    if (p != victim) survivor = p;
  if (shared_socket) freeze(survivor);
  bool served = wait_until(
      [&] {
        // A short timeout: a connection the survivor took just before it was
        // frozen would otherwise hold the loop for the default 2 s.
        std::string r = LineClient(port, 200).request();
        if (!r.empty()) pids.insert(field(r, 1));
        return pids.size() == (shared_socket ? 1u : 2u) &&
               !pids.count(std::to_string(shared_socket ? survivor : 0));
      },
      // Typically a few ms after the kill; the bound leaves room for a
      // loaded CI machine running sanitizer builds.
      2000ms);
  if (shared_socket) ::kill(survivor, SIGCONT);
  std::string seen;
  for (const auto& p : pids) seen += p + " ";
  ASSERT_TRUE(served) << "replies from: " << seen << "survivor " << survivor << " victim "
                      << victim;
  auto serving_after = Clock::now() - killed_at;
  std::printf("new worker serving %lld ms after the kill\n",
              static_cast<long long>(
                  std::chrono::duration_cast<std::chrono::milliseconds>(serving_after).count()));
  EXPECT_LT(serving_after, 2500ms);
  EXPECT_FALSE(pids.count(std::to_string(victim)));
  // Clients of the surviving worker saw no error.
  int survivors = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (served_by[i] == std::to_string(victim)) continue;
    ++survivors;
    std::string r = clients[i]->request();
    EXPECT_EQ(field(r, 1), served_by[i]) << "client " << i;
  }
  EXPECT_GT(survivors, 0);
}

TEST_F(ProcTest, KilledWorkerIsRespawnedWithinOneSecondReusePort) {
  write_config("reuse_port = true\n");
  start();
  kill_worker_respawns_within_a_second(master_, port_, false);
}

TEST_F(ProcTest, KilledWorkerIsRespawnedWithinOneSecondSharedSocket) {
  write_config("reuse_port = false\n");
  start();
  kill_worker_respawns_within_a_second(master_, port_, true);
}

TEST_F(ProcTest, ReloadUnderLoadLosesNoRequestAndAppliesNewConfig) {
  write_config("reply = old\nidle_grace_ms = 2000\n");
  start();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<int> served{0};
  std::atomic<int> saw_new{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      auto client = std::make_unique<LineClient>(port_);
      while (!stop) {
        std::string r = client->request();
        if (r.empty()) {
          ++failures;
          client = std::make_unique<LineClient>(port_);
          continue;
        }
        ++served;
        if (field(r, 0) == "new") ++saw_new;
        if (field(r, 3) == "close")
          client = std::make_unique<LineClient>(port_);  // as HTTP clients do
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  write_config("reply = new\nidle_grace_ms = 2000\n");
  ASSERT_EQ(::kill(master_, SIGHUP), 0);
  ASSERT_TRUE(wait_until([&] { return saw_new.load() > 100; }, 5000ms)) << stderr_text();
  std::this_thread::sleep_for(300ms);
  stop = true;
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0) << stderr_text();
  EXPECT_GT(served.load(), 200);
  // Afterwards only the new configuration answers.
  EXPECT_EQ(field(LineClient(port_).request(), 0), "new");
  EXPECT_TRUE(wait_until([&] { return children_of(master_).size() == 2; }, 5000ms));
}

TEST_F(ProcTest, InvalidReloadKeepsOldConfigAndLogsTheLine) {
  write_config("reply = old\n");
  start();
  auto workers = children_of(master_);
  {
    std::ofstream out(dir_ / "server.conf");
    out << "listen = 127.0.0.1:" << port_ << "\nworkers = 2\nbogus_key = 1\n";
  }
  ASSERT_EQ(::kill(master_, SIGHUP), 0);
  ASSERT_TRUE(wait_until(
      [&] { return stderr_text().find("keeping the running configuration") != std::string::npos; },
      10000ms));
  std::string err = stderr_text();
  EXPECT_NE(err.find("server.conf:3: bogus_key: unknown key"), std::string::npos) << err;
  EXPECT_NE(err.find("keeping the running configuration"), std::string::npos) << err;
  EXPECT_EQ(field(LineClient(port_).request(), 0), "old");
  EXPECT_EQ(children_of(master_), workers);  // the same workers keep serving
}

TEST_F(ProcTest, QuitFinishesSlowInFlightRequestsThenRefusesAndExits) {
  write_config("delay_ms = 500\nshutdown_timeout_ms = 3000\nidle_grace_ms = 200\n");
  start();
  std::vector<std::thread> threads;
  std::atomic<int> completed{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      LineClient c(port_);
      std::string r = c.request();
      if (!r.empty() && field(r, 3) == "close") ++completed;
    });
  }
  std::this_thread::sleep_for(150ms);  // the requests are in flight
  auto quit_at = Clock::now();
  ASSERT_EQ(::kill(master_, SIGQUIT), 0);
  for (auto& th : threads) th.join();
  EXPECT_EQ(completed.load(), 4) << stderr_text();
  EXPECT_TRUE(wait_until([&] { return !LineClient(port_).connected(); }, 3000ms));
  EXPECT_EQ(wait_master(4000ms), 0);
  EXPECT_LT(Clock::now() - quit_at, 4000ms);
}

TEST_F(ProcTest, TermStopsEveryProcessWithinTheTimeout) {
  write_config("");
  start();
  auto workers = children_of(master_);
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(::kill(master_, SIGTERM), 0);
  EXPECT_EQ(wait_master(4000ms), 0);
  for (pid_t w : workers) EXPECT_TRUE(wait_until([&] { return !alive(w); }, 1000ms));
}

TEST_F(ProcTest, WorkersExitWhenTheMasterIsKilled) {
  write_config("");
  start();
  auto workers = children_of(master_);
  ASSERT_EQ(workers.size(), 2u);
  ASSERT_EQ(::kill(master_, SIGKILL), 0);
  ::waitpid(master_, nullptr, 0);
  master_ = -1;
  for (pid_t w : workers) EXPECT_TRUE(wait_until([&] { return !alive(w); }, 2000ms)) << w;
}

TEST_F(ProcTest, FatalConfigWorkerIsNotRespawnedInALoop) {
  write_config("fatal = true\n");
  std::string conf = (dir_ / "server.conf").string();
  // start() waits for a reply; this server never answers, so spawn directly.
  std::string err = (dir_ / "stderr.log").string();
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  std::vector<std::string> args = {LINE_SERVER_PATH, "--config", conf};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  ASSERT_EQ(::posix_spawn(&master_, LINE_SERVER_PATH, &fa, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  std::this_thread::sleep_for(2500ms);
  std::string text = stderr_text();
  std::size_t starts = 0;
  for (std::size_t pos = 0;
       (pos = text.find("worker: fatal configuration", pos)) != std::string::npos; ++pos)
    ++starts;
  // Two slots, each started once; the fatal backoff (5 s) holds the next try.
  EXPECT_EQ(starts, 2u) << text;
  EXPECT_TRUE(alive(master_));
}

TEST_F(ProcTest, Usr1ReopensTheLogFile) {
  std::string log = (dir_ / "requests.log").string();
  write_config("log = " + log + "\n", 1);
  start();
  ASSERT_FALSE(LineClient(port_).request().empty());
  fs::rename(log, log + ".1");
  ASSERT_EQ(::kill(master_, SIGUSR1), 0);
  ASSERT_TRUE(wait_until(
      [&] {
        LineClient(port_).request();
        return fs::exists(log) && fs::file_size(log) > 0;
      },
      3000ms));
  EXPECT_GT(fs::file_size(log + ".1"), 0u);
}

TEST_F(ProcTest, SignalCommandAndConfigTestUseThePidFile) {
  write_config("");
  start();
  std::string cmd =
      std::string(LINE_SERVER_PATH) + " --pid-file " + (dir_ / "server.pid").string() + " -s stop";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_EQ(wait_master(4000ms), 0);
  std::string test_ok = std::string(LINE_SERVER_PATH) + " -t --config " +
                        (dir_ / "server.conf").string() + " >/dev/null";
  EXPECT_EQ(std::system(test_ok.c_str()), 0);
  {
    std::ofstream out(dir_ / "bad.conf");
    out << "workers = 0\n";
  }
  std::string test_bad = std::string(LINE_SERVER_PATH) + " -t --config " +
                         (dir_ / "bad.conf").string() + " 2>/dev/null";
  EXPECT_NE(std::system(test_bad.c_str()), 0);
}

}  // namespace
