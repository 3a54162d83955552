// idle-client PORT COUNT SOURCES: opens COUNT connections to 127.0.0.1:PORT,
// from source addresses 127.0.0.1 .. 127.0.0.SOURCES in turn (each source has
// its own ephemeral ports). Every connection makes one request (one byte,
// echoed back), then stays open and idle. Prints "ready N", then holds the
// connections until stdin closes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PORT COUNT SOURCES\n", argv[0]);
    return 2;
  }
  const int port = std::atoi(argv[1]);
  const int count = std::atoi(argv[2]);
  const int sources = std::atoi(argv[3]);
  rlimit rl{};
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);

  sockaddr_in server{};
  server.sin_family = AF_INET;
  server.sin_port = htons(static_cast<std::uint16_t>(port));
  server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> fds;
  fds.reserve(static_cast<std::size_t>(count));
  for (int i = 0; i < count; ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      std::fprintf(stderr, "socket %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + static_cast<unsigned>(i % sources));
    if (bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof src) != 0 ||
        connect(fd, reinterpret_cast<sockaddr*>(&server), sizeof server) != 0) {
      std::fprintf(stderr, "connect %d: %s\n", i, std::strerror(errno));
      return 1;
    }
    char c = 'x';
    if (send(fd, &c, 1, MSG_NOSIGNAL) != 1 || recv(fd, &c, 1, 0) != 1) {
      std::fprintf(stderr, "request %d failed\n", i);
      return 1;
    }
    fds.push_back(fd);
  }
  std::printf("ready %d\n", count);
  std::fflush(stdout);
  char buf[16];
  while (read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
  for (int fd : fds) close(fd);
  return 0;
}
