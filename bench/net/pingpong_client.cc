// pingpong-client: the ping-pong throughput test muduo and libevent publish.
// Opens C connections to an echo server; each sends one BLOCK-byte message
// and then echoes back whatever it reads, so every connection keeps one
// message bouncing. After a warm-up it counts bytes read for T seconds.
// One thread, epoll, level-triggered.
//   pingpong-client PORT CONNECTIONS SECONDS [BLOCK=16384] [SERVER_PID]
// Prints one line: connections, MiB/s, and with SERVER_PID the server's CPU
// time (utime+stime from /proc/PID/stat) per MiB over the measured window.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// utime + stime of a process, in clock ticks; -1 when unreadable.
long long cpu_ticks(long pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "re");
  if (!f) return -1;
  char buf[2048];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  const char* p = std::strrchr(buf, ')');  // the command name may hold spaces
  if (!p) return -1;
  unsigned long long utime = 0, stime = 0;
  // Fields after the name: state(3) ... utime(14) stime(15).
  if (std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) !=
      2)
    return -1;
  return static_cast<long long>(utime + stime);
}

struct Conn {
  int fd = -1;
  std::vector<char> pending;  // bytes read and not yet written back
  std::size_t pending_off = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s PORT CONNECTIONS SECONDS [BLOCK] [SERVER_PID]\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int count = std::atoi(argv[2]);
  const double seconds = std::atof(argv[3]);
  const std::size_t block = argc > 4 ? static_cast<std::size_t>(std::atol(argv[4])) : 16384;
  const long server_pid = argc > 5 ? std::atol(argv[5]) : 0;

  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<Conn> conns(static_cast<std::size_t>(count));
  std::string message(block, 'x');
  for (std::size_t i = 0; i < conns.size(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);  // blocking connect, then nonblocking
    if (fd < 0 || connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      std::fprintf(stderr, "connect %zu: %s\n", i, std::strerror(errno));
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, O_NONBLOCK);
    conns[i].fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }
  for (Conn& c : conns) {
    if (send(c.fd, message.data(), message.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(block)) {
      std::fprintf(stderr, "initial send failed\n");
      return 1;
    }
  }

  std::vector<char> buf(65536);
  std::vector<epoll_event> events(1024);
  unsigned long long bytes = 0;
  unsigned long long errors = 0;
  const auto warmup = std::chrono::milliseconds(500);
  const auto start = Clock::now();
  const auto measure_from = start + warmup;
  const auto end = measure_from + std::chrono::duration_cast<Clock::duration>(
                                      std::chrono::duration<double>(seconds));
  bool measuring = false;
  long long cpu0 = 0;
  Clock::time_point t0;
  for (;;) {
    auto now = Clock::now();
    if (!measuring && now >= measure_from) {
      measuring = true;
      bytes = 0;
      t0 = now;
      if (server_pid) cpu0 = cpu_ticks(server_pid);
    }
    if (now >= end) break;
    int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 10);
    for (int k = 0; k < n; ++k) {
      const epoll_event& ev = events[static_cast<std::size_t>(k)];
      Conn& c = conns[ev.data.u64];
      if (ev.events & EPOLLOUT) {
        ssize_t w = send(c.fd, c.pending.data() + c.pending_off, c.pending.size() - c.pending_off,
                         MSG_NOSIGNAL);
        if (w > 0) c.pending_off += static_cast<std::size_t>(w);
        if (c.pending_off == c.pending.size()) {
          c.pending.clear();
          c.pending_off = 0;
          epoll_event mod{};
          mod.events = EPOLLIN;
          mod.data.u64 = ev.data.u64;
          epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &mod);
        }
        continue;
      }
      if (!c.pending.empty()) continue;  // wait until our echo left
      ssize_t r = recv(c.fd, buf.data(), buf.size(), 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        ++errors;
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        continue;
      }
      bytes += static_cast<unsigned long long>(r);
      ssize_t w = send(c.fd, buf.data(), static_cast<std::size_t>(r), MSG_NOSIGNAL);
      if (w < 0) w = 0;
      if (w < r) {
        c.pending.assign(buf.data() + w, buf.data() + r);
        c.pending_off = 0;
        epoll_event mod{};
        mod.events = EPOLLOUT;
        mod.data.u64 = ev.data.u64;
        epoll_ctl(ep, EPOLL_CTL_MOD, c.fd, &mod);
      }
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  const double mib = static_cast<double>(bytes) / (1024.0 * 1024.0);
  std::printf("connections=%d mib_per_s=%.1f errors=%llu", count, mib / elapsed, errors);
  if (server_pid) {
    long long cpu1 = cpu_ticks(server_pid);
    double cpu_s = static_cast<double>(cpu1 - cpu0) / static_cast<double>(sysconf(_SC_CLK_TCK));
    std::printf(" server_cpu_s=%.2f server_cpu_us_per_mib=%.1f", cpu_s, cpu_s * 1e6 / mib);
  }
  std::printf("\n");
  for (Conn& c : conns) close(c.fd);
  return errors == 0 ? 0 : 1;
}
