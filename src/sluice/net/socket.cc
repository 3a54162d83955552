#include "sluice/net/socket.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstdio>

namespace sluice::net {
namespace {

Status set_int_option(int fd, int level, int name, int value) noexcept {
  if (::setsockopt(fd, level, name, &value, sizeof value) != 0) return errno_code();
  return {};
}

}  // namespace

Result<UniqueFd> make_tcp_socket(int family) {
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_TCP);
  if (fd < 0) return errno_code();
  return UniqueFd(fd);
}

int system_somaxconn() noexcept {
  int value = 4096;
  if (std::FILE* f = std::fopen("/proc/sys/net/core/somaxconn", "re")) {
    if (std::fscanf(f, "%d", &value) != 1 || value <= 0) value = 4096;
    std::fclose(f);
  }
  return value;
}

Result<UniqueFd> listen_tcp(const InetAddress& addr, const ListenOptions& options) {
  auto fd = make_tcp_socket(addr.family());
  if (!fd) return fd.error();
  int s = fd->get();
  if (auto st = set_int_option(s, SOL_SOCKET, SO_REUSEADDR, 1); !st) return st.error();
  if (options.reuse_port) {
    if (auto st = set_int_option(s, SOL_SOCKET, SO_REUSEPORT, 1); !st) return st.error();
  }
  if (addr.family() == AF_INET6) {
    if (auto st = set_int_option(s, IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only ? 1 : 0); !st)
      return st.error();
  }
  if (::bind(s, addr.sockaddr_ptr(), addr.length()) != 0) return errno_code();
  int backlog = options.backlog > 0 ? options.backlog : system_somaxconn();
  if (::listen(s, backlog) != 0) return errno_code();
  return std::move(*fd);
}

Result<ConnectStart> start_connect(const InetAddress& peer, const InetAddress* source) {
  auto fd = make_tcp_socket(peer.family());
  if (!fd) return fd.error();
  if (source) {
    // Several loopback source addresses widen the ephemeral port range.
    (void)set_int_option(fd->get(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1);
    if (::bind(fd->get(), source->sockaddr_ptr(), source->length()) != 0) return errno_code();
  }
  ConnectStart out;
  int rc;
  do {
    rc = ::connect(fd->get(), peer.sockaddr_ptr(), peer.length());
  } while (rc != 0 && errno == EINTR);
  if (rc == 0) {
    out.connected = true;
  } else if (errno != EINPROGRESS) {
    return errno_code();
  }
  out.fd = std::move(*fd);
  return out;
}

InetAddress local_address(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

InetAddress peer_address(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return {};
  return InetAddress::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len);
}

int socket_error(int fd) noexcept {
  int err = 0;
  socklen_t len = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno;
  return err;
}

Status set_tcp_nodelay(int fd, bool on) noexcept {
  return set_int_option(fd, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0);
}
Status set_keepalive(int fd, bool on) noexcept {
  return set_int_option(fd, SOL_SOCKET, SO_KEEPALIVE, on ? 1 : 0);
}
Status set_send_buffer(int fd, int bytes) noexcept {
  return set_int_option(fd, SOL_SOCKET, SO_SNDBUF, bytes);
}
Status set_receive_buffer(int fd, int bytes) noexcept {
  return set_int_option(fd, SOL_SOCKET, SO_RCVBUF, bytes);
}

Status set_linger_zero(int fd) noexcept {
  linger l{};
  l.l_onoff = 1;
  l.l_linger = 0;
  if (::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0) return errno_code();
  return {};
}

std::uint64_t raise_nofile_limit(std::uint64_t wanted) noexcept {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur >= wanted) return rl.rlim_cur;
  rlimit want = rl;
  want.rlim_cur = wanted;
  if (want.rlim_max < wanted) want.rlim_max = wanted;  // allowed when privileged
  if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
    want.rlim_max = rl.rlim_max;
    want.rlim_cur = rl.rlim_max < wanted ? rl.rlim_max : wanted;
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) return rl.rlim_cur;
  }
  ::getrlimit(RLIMIT_NOFILE, &rl);
  return rl.rlim_cur;
}

}  // namespace sluice::net
