// InetAddress: an IPv4 or IPv6 socket address.
// parse() takes numeric "ADDR:PORT" and "[V6ADDR]:PORT"; resolve() also looks
// host names up (getaddrinfo, blocking: call it before the loop runs or from a
// helper thread, never on a loop serving traffic).
// Thread rules: a value.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/base/error.h"

namespace sluice::net {

class InetAddress {
 public:
  InetAddress() noexcept;
  // Numeric address and port, e.g. ("127.0.0.1", 8080) or ("::1", 0).
  static Result<InetAddress> from_ip(std::string_view ip, std::uint16_t port);
  // "127.0.0.1:8080", "[::1]:8080", ":8080" / "*:8080" (all IPv4 addresses).
  static Result<InetAddress> parse(std::string_view text);
  // Like parse, but the host may be a name; every address it resolves to.
  static Result<std::vector<InetAddress>> resolve(std::string_view text);
  static InetAddress from_sockaddr(const sockaddr* sa, socklen_t len) noexcept;

  int family() const noexcept { return addr_.ss_family; }
  std::uint16_t port() const noexcept;
  void set_port(std::uint16_t port) noexcept;
  bool is_loopback() const noexcept;
  // "127.0.0.1:8080" or "[::1]:8080".
  std::string to_string() const;
  std::string ip_string() const;

  const sockaddr* sockaddr_ptr() const noexcept {
    return reinterpret_cast<const sockaddr*>(&addr_);
  }
  sockaddr* sockaddr_ptr() noexcept { return reinterpret_cast<sockaddr*>(&addr_); }
  socklen_t length() const noexcept;

  friend bool operator==(const InetAddress& a, const InetAddress& b) noexcept;

 private:
  sockaddr_storage addr_;
};

// Splits "host:port" / "[v6]:port" into host and port; errors name the text.
Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text);

}  // namespace sluice::net
