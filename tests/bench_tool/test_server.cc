#include "test_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <stdexcept>

namespace bench_test {

struct TestServer::Conn {
  int fd = -1;
  std::string in;
  std::string out;
  bool close_after_flush = false;
  bool writing = false;
};

namespace {

std::string to_lower(std::string s) {
  for (char& c : s) c = static_cast<char>(::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The value of header `name` (lower case) in a request head, or "".
std::string header_value(const std::string& head, const std::string& name) {
  const std::string lower = to_lower(head);
  const std::string key = "\r\n" + name + ":";
  const auto at = lower.find(key);
  if (at == std::string::npos) return {};
  auto start = at + key.size();
  const auto end = head.find("\r\n", start);
  while (start < end && (head[start] == ' ' || head[start] == '\t')) ++start;
  return head.substr(start, end - start);
}

}  // namespace

TestServer::TestServer(TestServerConfig config) : config_(std::move(config)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 4096) != 0)
    throw std::runtime_error("TestServer: bind/listen failed");
  socklen_t len = sizeof addr;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
  ev.data.ptr = &stop_fd_;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &ev);
  thread_ = std::thread([this] { run(); });
}

TestServer::~TestServer() {
  const std::uint64_t one = 1;
  (void)!::write(stop_fd_, &one, sizeof one);
  thread_.join();
  ::close(stop_fd_);
  ::close(epoll_fd_);
  ::close(listen_fd_);
}

std::string TestServer::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

bool TestServer::wait_for_requests(std::uint64_t n, std::chrono::milliseconds limit) const {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (requests() < n) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void TestServer::run() {
  std::map<int, std::unique_ptr<Conn>> conns;
  epoll_event events[64];
  for (;;) {
    const int n = ::epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &stop_fd_) {
        for (auto& [fd, c] : conns) ::close(fd);
        return;
      }
      if (tag == nullptr) {
        for (;;) {
          const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          ++accepted_;
          int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto c = std::make_unique<Conn>();
          c->fd = fd;
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.ptr = c.get();
          ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
          conns[fd] = std::move(c);
        }
        continue;
      }
      Conn& c = *static_cast<Conn*>(tag);
      const int fd = c.fd;
      if ((events[i].events & EPOLLOUT) != 0) flush(c);
      if (c.fd >= 0 && (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) != 0) on_readable(c);
      if (c.fd < 0) conns.erase(fd);
    }
  }
}

void TestServer::on_readable(Conn& c) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(c.fd, buf, sizeof buf);
    if (n > 0) {
      c.in.append(buf, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0 && errno == EINTR) continue;
    handle_requests(c);  // requests that arrived before the close still count
    if (c.fd >= 0) close_conn(c, false);
    return;
  }
  handle_requests(c);
}

void TestServer::handle_requests(Conn& c) {
  while (c.fd >= 0 && !c.close_after_flush) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) break;
    const std::string head = c.in.substr(0, end + 2);
    std::size_t body = 0;
    const std::string cl = header_value(head, "content-length");
    if (!cl.empty()) body = std::stoul(cl);
    if (c.in.size() < end + 4 + body) break;
    c.in.erase(0, end + 4 + body);
    body_bytes_ += body;
    const bool http10 = head.find(" HTTP/1.0\r\n") != std::string::npos;
    const std::string conn = to_lower(header_value(head, "connection"));
    const bool keep_alive = http10 ? conn == "keep-alive" : conn != "close";
    const std::uint64_t k = ++requests_;
    if (config_.stall_at != 0 && k == config_.stall_at)
      std::this_thread::sleep_for(std::chrono::milliseconds(config_.stall_ms));
    if (config_.abort_every != 0 && k % config_.abort_every == 0) {
      ++aborted_;
      flush(c);
      close_conn(c, true);
      return;
    }
    if (config_.error_every != 0 && k % config_.error_every == 0) {
      ++errors_;
      respond(c, 500, keep_alive);
    } else {
      ++ok_;
      respond(c, 200, keep_alive);
    }
  }
  flush(c);
}

void TestServer::respond(Conn& c, int status, bool keep_alive) {
  const std::string& body = config_.body_text;
  const char* reason = status == 200 ? "OK" : "Internal Server Error";
  char line[64];
  std::string r;
  switch (config_.body) {
    case BodyMode::kLength:
      std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason);
      r = line;
      r += "Server: test\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
      if (!keep_alive) r += "Connection: close\r\n";
      r += "\r\n" + body;
      break;
    case BodyMode::kChunked: {
      std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason);
      r = line;
      r += "Transfer-Encoding: chunked\r\n";
      if (!keep_alive) r += "Connection: close\r\n";
      r += "\r\n";
      const std::size_t half = body.size() / 2;
      char size[32];
      std::snprintf(size, sizeof size, "%zx;ext=1\r\n", half);
      r += size + body.substr(0, half) + "\r\n";
      std::snprintf(size, sizeof size, "%zX\r\n", body.size() - half);
      r += size + body.substr(half) + "\r\n0\r\nX-Trailer: yes\r\n\r\n";
      break;
    }
    case BodyMode::kUntilClose:
      std::snprintf(line, sizeof line, "HTTP/1.0 %d %s\r\n", status, reason);
      r = line;
      r += "Server: test\r\n\r\n" + body;
      keep_alive = false;
      break;
    case BodyMode::kShortThenClose:
      std::snprintf(line, sizeof line, "HTTP/1.1 %d %s\r\n", status, reason);
      r = line;
      r += "Content-Length: 100\r\n\r\n0123456789";
      keep_alive = false;
      break;
  }
  c.out += r;
  if (!keep_alive) c.close_after_flush = true;
}

void TestServer::flush(Conn& c) {
  while (!c.out.empty()) {
    const std::size_t chunk = config_.byte_writes ? 1 : c.out.size();
    const ssize_t n = ::send(c.fd, c.out.data(), chunk, MSG_NOSIGNAL);
    if (n > 0) {
      c.out.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!c.writing) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = &c;
        ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
        c.writing = true;
      }
      return;
    }
    close_conn(c, false);  // the peer is gone
    return;
  }
  if (c.writing) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &c;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd, &ev);
    c.writing = false;
  }
  if (c.close_after_flush) close_conn(c, false);
}

void TestServer::close_conn(Conn& c, bool reset) {
  if (c.fd < 0) return;
  if (reset) {
    linger l{};
    l.l_onoff = 1;
    l.l_linger = 0;
    ::setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  c.fd = -1;
}

}  // namespace bench_test
