// Socket helpers: every descriptor is created nonblocking and close-on-exec.
// Thread rules: free functions; no shared state.
#pragma once

#include <cstdint>

#include "sluice/base/error.h"
#include "sluice/base/unique_fd.h"
#include "sluice/net/inet_address.h"

namespace sluice::net {

struct ListenOptions {
  int backlog = 0;          // 0: the system's somaxconn
  bool reuse_port = false;  // SO_REUSEPORT: one listener per loop or worker
  bool v6_only = true;      // an [::] listener takes IPv6 only
};

// A TCP socket of the address's family.
Result<UniqueFd> make_tcp_socket(int family);
// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen.
Result<UniqueFd> listen_tcp(const InetAddress& addr, const ListenOptions& options = {});
// Starts a nonblocking connect: the descriptor and whether it is already
// connected (loopback often is); EINPROGRESS is not an error.
struct ConnectStart {
  UniqueFd fd;
  bool connected = false;
};
Result<ConnectStart> start_connect(const InetAddress& peer, const InetAddress* source = nullptr);

// /proc/sys/net/core/somaxconn, or 4096 when unreadable.
int system_somaxconn() noexcept;

InetAddress local_address(int fd) noexcept;
InetAddress peer_address(int fd) noexcept;
// SO_ERROR (the pending error of a nonblocking connect), as an errno value.
int socket_error(int fd) noexcept;

Status set_tcp_nodelay(int fd, bool on) noexcept;
Status set_keepalive(int fd, bool on) noexcept;
Status set_send_buffer(int fd, int bytes) noexcept;
Status set_receive_buffer(int fd, int bytes) noexcept;
// SO_LINGER with a zero timeout: the next close() sends RST (abortive close).
Status set_linger_zero(int fd) noexcept;

// RLIMIT_NOFILE soft limit raised to at least `wanted` (up to the hard limit,
// or beyond it when privileged). Returns the soft limit in force afterwards.
std::uint64_t raise_nofile_limit(std::uint64_t wanted) noexcept;

}  // namespace sluice::net
