#include "sluice/net/inet_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>
#include <cstring>

namespace sluice::net {

InetAddress::InetAddress() noexcept { std::memset(&addr_, 0, sizeof addr_); }

Result<InetAddress> InetAddress::from_ip(std::string_view ip, std::uint16_t port) {
  InetAddress a;
  std::string s(ip);
  if (s.empty() || s == "*") s = "0.0.0.0";
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.addr_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.addr_);
  if (::inet_pton(AF_INET, s.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return a;
  }
  std::memset(&a.addr_, 0, sizeof a.addr_);
  if (::inet_pton(AF_INET6, s.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return a;
  }
  return Errc::kInvalidArgument;
}

Result<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return Errc::kInvalidArgument;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Errc::kInvalidArgument;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return Errc::kInvalidArgument;  // v6 needs []
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535)
    return Errc::kInvalidArgument;
  return std::pair<std::string, std::uint16_t>{std::string(host),
                                               static_cast<std::uint16_t>(value)};
}

Result<InetAddress> InetAddress::parse(std::string_view text) {
  auto hp = split_host_port(text);
  if (!hp) return hp.error();
  return from_ip(hp->first, hp->second);
}

Result<std::vector<InetAddress>> InetAddress::resolve(std::string_view text) {
  auto hp = split_host_port(text);
  if (!hp) return hp.error();
  if (auto numeric = from_ip(hp->first, hp->second)) return std::vector<InetAddress>{*numeric};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  int rc = ::getaddrinfo(hp->first.c_str(), nullptr, &hints, &list);
  if (rc != 0) return rc == EAI_SYSTEM ? errno_code() : make_error_code(Errc::kInvalidArgument);
  std::vector<InetAddress> out;
  for (addrinfo* ai = list; ai; ai = ai->ai_next) {
    InetAddress a = from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    a.set_port(hp->second);
    out.push_back(a);
  }
  ::freeaddrinfo(list);
  if (out.empty()) return Errc::kInvalidArgument;
  return out;
}

InetAddress InetAddress::from_sockaddr(const sockaddr* sa, socklen_t len) noexcept {
  InetAddress a;
  std::memcpy(&a.addr_, sa, std::min<std::size_t>(len, sizeof a.addr_));
  return a;
}

std::uint16_t InetAddress::port() const noexcept {
  if (family() == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr_)->sin_port);
  if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr_)->sin6_port);
  return 0;
}

void InetAddress::set_port(std::uint16_t port) noexcept {
  if (family() == AF_INET) reinterpret_cast<sockaddr_in*>(&addr_)->sin_port = htons(port);
  if (family() == AF_INET6) reinterpret_cast<sockaddr_in6*>(&addr_)->sin6_port = htons(port);
}

bool InetAddress::is_loopback() const noexcept {
  if (family() == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&addr_)->sin_addr.s_addr) >> 24) == 127;
  if (family() == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&addr_)->sin6_addr);
  return false;
}

socklen_t InetAddress::length() const noexcept {
  return family() == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

std::string InetAddress::ip_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (family() == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&addr_)->sin_addr, buf, sizeof buf);
  else if (family() == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&addr_)->sin6_addr, buf,
                sizeof buf);
  return buf;
}

std::string InetAddress::to_string() const {
  std::string out;
  out.reserve(INET6_ADDRSTRLEN + 8);
  if (family() == AF_INET6) out += '[';
  out += ip_string();
  if (family() == AF_INET6) out += ']';
  out += ':';
  out += std::to_string(port());
  return out;
}

bool operator==(const InetAddress& a, const InetAddress& b) noexcept {
  return a.family() == b.family() && std::memcmp(&a.addr_, &b.addr_, a.length()) == 0;
}

}  // namespace sluice::net
