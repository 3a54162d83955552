// Url: the parts of an http:// URL that the load generator needs.
// Only plain HTTP; https is refused with a clear message. Thread rules: a value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::bench {

struct Url {
  std::string host;  // a name or a numeric address (IPv6 without brackets)
  std::uint16_t port = 80;
  std::string target = "/";  // path and query, as sent in the request line
  std::string authority;     // the Host header's value: host[:port]

  // "host:port" / "[v6]:port", for InetAddress::resolve.
  std::string host_port() const;
};

// Parses "http://host[:port][/path][?query]"; a missing scheme means http.
// On error, returns false and sets `error`.
bool parse_url(std::string_view text, Url& out, std::string& error);

}  // namespace sluice::bench
