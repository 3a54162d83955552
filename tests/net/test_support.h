// Test support for the TCP layer: deadlines, raw-socket clients driven by
// poll/epoll (never blocking without a bound), a swarm of echo clients, and a
// recording echo handler.
//
// Every wait here is bounded by a Deadline; helpers return what they got
// instead of hanging, and the test asserts on it.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sluice/base/clock.h"
#include "sluice/base/unique_fd.h"
#include "sluice/net/inet_address.h"
#include "sluice/net/socket.h"
#include "sluice/net/tcp_connection.h"
#include "sluice/net/tcp_server.h"

namespace sluice::net::test {

using namespace std::chrono_literals;

// A point in time every wait of a test step must end by.
class Deadline {
 public:
  explicit Deadline(Duration budget) : at_(Clock::now() + budget) {}
  bool expired() const { return Clock::now() >= at_; }
  // Milliseconds left for poll/epoll_wait, capped by `cap_ms`, at least 0.
  int poll_ms(int cap_ms = 1000) const {
    auto left = std::chrono::duration_cast<Millis>(at_ - Clock::now()).count();
    if (left <= 0) return 0;
    return left < cap_ms ? static_cast<int>(left) : cap_ms;
  }

 private:
  TimePoint at_;
};

// Polls `pred` every few milliseconds until it holds or `budget` runs out.
inline bool wait_until(const std::function<bool()>& pred, Duration budget = 10s) {
  Deadline d(budget);
  for (;;) {
    if (pred()) return true;
    if (d.expired()) return false;
    std::this_thread::sleep_for(2ms);
  }
}

inline void ignore_sigpipe_for_test() { ::signal(SIGPIPE, SIG_IGN); }

inline InetAddress loopback_v4(std::uint16_t port = 0) {
  return InetAddress::from_ip("127.0.0.1", port).value();
}

// The process's CPU time (user + system, all threads), in microseconds.
inline std::int64_t process_cpu_us() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000 + ts.tv_nsec / 1000;
}

// The byte at position `pos` of stream number `stream`: deterministic, so a
// receiver checks every byte without keeping a copy.
inline char pattern_byte(std::uint64_t stream, std::uint64_t pos) {
  std::uint64_t x = (stream + 1) * 0x9E3779B97F4A7C15ull + pos * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return static_cast<char>(static_cast<unsigned char>(x >> 32));
}

inline std::string pattern(std::uint64_t stream, std::uint64_t offset, std::size_t len) {
  std::string s(len, '\0');
  for (std::size_t i = 0; i < len; ++i) s[i] = pattern_byte(stream, offset + i);
  return s;
}

// FNV-1a, for checksums of long streams.
constexpr std::uint64_t kFnvOffset = 1469598103934665603ull;
inline std::uint64_t fnv1a(std::uint64_t h, std::string_view s) {
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

// A nonblocking TCP socket connected to `addr` (poll for completion), or an
// invalid fd with `err` set to the errno.
inline UniqueFd connect_raw(const InetAddress& addr, const Deadline& d, int* err = nullptr,
                            int rcvbuf = 0) {
  int local_err = 0;
  int& e = err ? *err : local_err;
  e = 0;
  UniqueFd fd(::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) {
    e = errno;
    return {};
  }
  if (rcvbuf > 0) ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (::connect(fd.get(), addr.sockaddr_ptr(), addr.length()) == 0) return fd;
  if (errno != EINPROGRESS) {
    e = errno;
    return {};
  }
  pollfd p{fd.get(), POLLOUT, 0};
  for (;;) {
    int rc = ::poll(&p, 1, d.poll_ms());
    if (rc > 0) break;
    if (rc < 0 && errno == EINTR) continue;
    if (d.expired()) {
      e = ETIMEDOUT;
      return {};
    }
  }
  e = socket_error(fd.get());
  if (e != 0) return {};
  return fd;
}

// Writes every byte (poll on EAGAIN). False on error or deadline.
inline bool send_all(int fd, std::string_view bytes, const Deadline& d) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN) return false;
    if (d.expired()) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, d.poll_ms(50));
  }
  return true;
}

struct ReadOutcome {
  std::string data;
  bool eof = false;
  int error = 0;  // errno of a failed read (ECONNRESET...)
  bool timed_out = false;
};

// Reads until `want` bytes arrived (0: until EOF), EOF, an error or the
// deadline.
inline ReadOutcome read_some(int fd, std::size_t want, const Deadline& d) {
  ReadOutcome out;
  char buf[65536];
  for (;;) {
    if (want > 0 && out.data.size() >= want) return out;
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      out.data.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      out.eof = true;
      return out;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) {
      out.error = errno;
      return out;
    }
    if (d.expired()) {
      out.timed_out = true;
      return out;
    }
    pollfd p{fd, POLLIN, 0};
    ::poll(&p, 1, d.poll_ms(50));
  }
}

inline ReadOutcome read_until_eof(int fd, const Deadline& d) { return read_some(fd, 0, d); }

// One round trip: send `bytes`, expect them back.
inline bool echo_round_trip(int fd, std::string_view bytes, const Deadline& d) {
  if (!send_all(fd, bytes, d)) return false;
  ReadOutcome r = read_some(fd, bytes.size(), d);
  return r.data == bytes;
}

// The highest descriptor open in this process.
inline int highest_open_fd() {
  int highest = -1;
  for (int fd = 0; fd < 65536; ++fd) {
    if (::fcntl(fd, F_GETFD) >= 0) highest = fd;
  }
  return highest;
}

// A child process with its stdin and stdout on pipes; killed if still alive
// when destroyed.
class Child {
 public:
  explicit Child(std::vector<std::string> args) {
    int in[2], out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) return;
    to_child_.reset(in[1]);
    from_child_.reset(out[0]);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], STDIN_FILENO);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(in[0]);
    ::close(out[1]);
  }
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // One line of the child's stdout (without the newline); empty on deadline or EOF.
  std::string read_line(const Deadline& d) {
    for (;;) {
      if (auto nl = buffered_.find('\n'); nl != std::string::npos) {
        std::string line = buffered_.substr(0, nl);
        buffered_.erase(0, nl + 1);
        return line;
      }
      if (d.expired()) return {};
      pollfd p{from_child_.get(), POLLIN, 0};
      if (::poll(&p, 1, d.poll_ms(100)) <= 0) continue;
      char buf[512];
      ssize_t n = ::read(from_child_.get(), buf, sizeof buf);
      if (n <= 0) return {};
      buffered_.append(buf, static_cast<std::size_t>(n));
    }
  }
  bool write_line(std::string_view line) {
    std::string s(line);
    s += '\n';
    return ::write(to_child_.get(), s.data(), s.size()) == static_cast<ssize_t>(s.size());
  }
  // Waits for the exit status; kills the child when the deadline passes.
  bool wait_exit(int& status, const Deadline& d) {
    for (;;) {
      pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        pid_ = -1;
        return true;
      }
      if (d.expired()) return false;
      std::this_thread::sleep_for(5ms);
    }
  }

 private:
  pid_t pid_ = -1;
  UniqueFd to_child_;
  UniqueFd from_child_;
  std::string buffered_;
};

// The accept queue length of the listening socket on 127.0.0.1:port, read
// from /proc/net/tcp (rx_queue of a LISTEN socket), or -1 when not found.
inline long listen_queue_length(std::uint16_t port) {
  std::FILE* f = std::fopen("/proc/net/tcp", "re");
  if (!f) return -1;
  char line[512];
  long result = -1;
  while (std::fgets(line, sizeof line, f)) {
    unsigned local_ip = 0, local_port = 0, remote_ip = 0, remote_port = 0, state = 0;
    unsigned long tx = 0, rx = 0;
    if (std::sscanf(line, " %*u: %x:%x %x:%x %x %lx:%lx", &local_ip, &local_port, &remote_ip,
                    &remote_port, &state, &tx, &rx) == 7 &&
        local_port == port && state == 0x0A) {
      result = static_cast<long>(rx);
    }
  }
  std::fclose(f);
  return result;
}

// Many clients on one epoll, each sending its own pattern (stream = its
// index, length from `length_of`) and checking that every byte comes back.
// Connections stay open after they are verified until close_all().
class EchoSwarm {
 public:
  struct Options {
    std::size_t count = 100;
    std::size_t max_connecting = 256;  // connects in flight at once
    std::function<std::size_t(std::size_t)> length_of = [](std::size_t) { return 64; };
    // Source addresses used in turn (empty: the kernel picks).
    std::vector<InetAddress> sources;
    // A connection not verified this long after it started is closed and
    // started again, as a real client with a timeout would (zero: never).
    Duration retry_after = Duration::zero();
  };

  EchoSwarm(InetAddress server, Options options)
      : server_(server), options_(std::move(options)), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    conns_.resize(options_.count);
  }

  // Runs until every connection is verified, one fails, or the deadline.
  // True when every connection was verified.
  bool run(const Deadline& d) {
    std::vector<epoll_event> events(1024);
    TimePoint last_scan = Clock::now();
    while (verified_ < options_.count && failed_ == 0) {
      while (next_ < options_.count && connecting_ < options_.max_connecting) start(next_++);
      if (options_.retry_after > Duration::zero() && Clock::now() - last_scan > 50ms) {
        last_scan = Clock::now();
        retry_stale(last_scan);
      }
      if (failed_ != 0) break;
      if (d.expired()) {
        error_ = "deadline: " + std::to_string(verified_) + " of " +
                 std::to_string(options_.count) + " verified, " + std::to_string(next_) +
                 " started, " + std::to_string(connecting_) + " still connecting";
        return false;
      }
      int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                           d.poll_ms(100));
      for (int i = 0; i < n; ++i) {
        handle(static_cast<std::size_t>(events[static_cast<std::size_t>(i)].data.u64),
               events[static_cast<std::size_t>(i)].events);
      }
    }
    return verified_ == options_.count;
  }

  void close_all() {
    for (Conn& c : conns_) c.fd.reset();
  }
  std::size_t verified() const { return verified_; }
  std::size_t retries() const { return retries_; }
  std::size_t failed() const { return failed_; }
  const std::string& error() const { return error_; }

 private:
  enum class State : std::uint8_t { kIdle, kConnecting, kEchoing, kDone, kFailed };
  struct Conn {
    UniqueFd fd;
    TimePoint started{};
    std::size_t length = 0;
    std::size_t sent = 0;
    std::size_t received = 0;
    State state = State::kIdle;
  };

  void fail(std::size_t i, const std::string& why) {
    Conn& c = conns_[i];
    if (c.state == State::kConnecting) --connecting_;
    c.state = State::kFailed;
    ++failed_;
    if (error_.empty()) error_ = "connection " + std::to_string(i) + ": " + why;
    if (c.fd) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
  }

  void retry_stale(TimePoint now) {
    for (std::size_t i = 0; i < next_; ++i) {
      Conn& c = conns_[i];
      if ((c.state != State::kConnecting && c.state != State::kEchoing) ||
          now - c.started < options_.retry_after)
        continue;
      if (c.state == State::kConnecting) --connecting_;
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
      c.fd.reset();
      ++retries_;
      start(i);
    }
  }

  void start(std::size_t i) {
    Conn& c = conns_[i];
    c.started = Clock::now();
    c.sent = 0;
    c.received = 0;
    c.length = options_.length_of(i);
    c.fd.reset(::socket(server_.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.fd) return fail(i, std::string("socket: ") + std::strerror(errno));
    if (!options_.sources.empty()) {
      const InetAddress& src = options_.sources[i % options_.sources.size()];
      int one = 1;
      ::setsockopt(c.fd.get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      if (::bind(c.fd.get(), src.sockaddr_ptr(), src.length()) != 0)
        return fail(i, std::string("bind: ") + std::strerror(errno));
    }
    c.state = State::kConnecting;
    ++connecting_;
    if (::connect(c.fd.get(), server_.sockaddr_ptr(), server_.length()) != 0 &&
        errno != EINPROGRESS)
      return fail(i, std::string("connect: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT;
    ev.data.u64 = i;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0)
      return fail(i, std::string("epoll_ctl: ") + std::strerror(errno));
  }

  void handle(std::size_t i, std::uint32_t events) {
    Conn& c = conns_[i];
    if (c.state == State::kConnecting) {
      if (int err = socket_error(c.fd.get()); err != 0)
        return fail(i, std::string("connect: ") + std::strerror(err));
      if (!(events & (EPOLLOUT | EPOLLIN))) return;
      --connecting_;
      c.state = State::kEchoing;
    }
    if (c.state != State::kEchoing) return;
    if ((events & EPOLLOUT) && c.sent < c.length) {
      char buf[8192];
      std::size_t n = std::min(sizeof buf, c.length - c.sent);
      for (std::size_t k = 0; k < n; ++k) buf[k] = pattern_byte(i, c.sent + k);
      ssize_t w = ::send(c.fd.get(), buf, n, MSG_NOSIGNAL);
      if (w < 0 && errno != EAGAIN) return fail(i, std::string("send: ") + std::strerror(errno));
      if (w > 0) c.sent += static_cast<std::size_t>(w);
      if (c.sent == c.length) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u64 = i;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev);
      }
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
      char buf[8192];
      for (;;) {
        ssize_t r = ::recv(c.fd.get(), buf, sizeof buf, 0);
        if (r == 0) return fail(i, "EOF after " + std::to_string(c.received) + " bytes");
        if (r < 0) {
          if (errno == EAGAIN) break;
          return fail(i, std::string("recv: ") + std::strerror(errno));
        }
        auto got = static_cast<std::size_t>(r);
        if (c.received + got > c.length) return fail(i, "more bytes than sent");
        for (std::size_t k = 0; k < got; ++k) {
          if (buf[k] != pattern_byte(i, c.received + k))
            return fail(i, "byte " + std::to_string(c.received + k) + " differs");
        }
        c.received += got;
      }
      if (c.received == c.length) {
        c.state = State::kDone;
        ++verified_;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.fd.get(), nullptr);
      }
    }
  }

  InetAddress server_;
  Options options_;
  UniqueFd epoll_;
  std::vector<Conn> conns_;
  std::size_t next_ = 0;
  std::size_t connecting_ = 0;
  std::size_t verified_ = 0;
  std::size_t failed_ = 0;
  std::size_t retries_ = 0;
  std::string error_;
};

// An echo handler that records what happened, thread-safely: opens, closes
// with their reasons, bytes seen. Hooks let a test act inside callbacks.
class RecordingEcho : public ConnectionHandler {
 public:
  void on_open(TcpConnection& c) override {
    opened.fetch_add(1);
    if (on_open_hook) on_open_hook(c);
  }
  void on_message(TcpConnection& c, mem::InputBuffer& in) override {
    bytes_in.fetch_add(in.size());
    if (on_message_hook && on_message_hook(c, in)) return;
    if (!c.send(in.view())) {
      c.close(CloseReason::kError);
      return;
    }
    in.consume(in.size());
  }
  void on_write_complete(TcpConnection& c) override {
    if (on_write_complete_hook) on_write_complete_hook(c);
  }
  void on_close(TcpConnection& c, CloseReason r) override {
    std::lock_guard<std::mutex> lock(mu_);
    reasons_.push_back(r);
    closes_by_id_[{&c.loop(), c.id()}] += 1;
    closed.fetch_add(1);
  }

  std::vector<CloseReason> close_reasons() {
    std::lock_guard<std::mutex> lock(mu_);
    return reasons_;
  }
  // Every connection closed exactly once.
  bool each_closed_once() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, n] : closes_by_id_) {
      if (n != 1) return false;
    }
    return true;
  }

  std::function<void(TcpConnection&)> on_open_hook;
  // Returns true when it handled the message (no echo).
  std::function<bool(TcpConnection&, mem::InputBuffer&)> on_message_hook;
  std::function<void(TcpConnection&)> on_write_complete_hook;
  std::atomic<std::uint64_t> opened{0};
  std::atomic<std::uint64_t> closed{0};
  std::atomic<std::uint64_t> bytes_in{0};

 private:
  std::mutex mu_;
  std::vector<CloseReason> reasons_;
  std::map<std::pair<const EventLoop*, ConnectionId>, int> closes_by_id_;  // ids are per loop
};

// A TcpServer on 127.0.0.1 port 0 with the given tweaks, started.
inline TcpServerOptions local_server_options(int threads = 1) {
  TcpServerOptions o;
  o.listen.push_back(loopback_v4());
  o.threads = threads;
  return o;
}

inline std::uint64_t total_accepted(TcpServer& s) {
  std::uint64_t n = 0;
  for (const LoopStats& st : s.stats()) n += st.accepted;
  return n;
}

}  // namespace sluice::net::test
