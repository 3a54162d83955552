#include "url.h"

#include <charconv>

namespace sluice::bench {

std::string Url::host_port() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool parse_url(std::string_view text, Url& out, std::string& error) {
  out = Url{};
  std::string_view rest = text;
  if (const auto scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    const std::string_view scheme = rest.substr(0, scheme_end);
    if (scheme != "http") {
      error = "unsupported URL scheme '" + std::string(scheme) + "' (only http://)";
      return false;
    }
    rest.remove_prefix(scheme_end + 3);
  }
  const auto path_start = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_start);
  std::string_view target =
      path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
  if (const auto hash = target.find('#'); hash != std::string_view::npos)
    target = target.substr(0, hash);
  if (authority.find('@') != std::string_view::npos) {
    error = "user information in URLs is not supported";
    return false;
  }
  if (authority.empty()) {
    error = "URL without a host: '" + std::string(text) + "'";
    return false;
  }
  std::string_view host = authority;
  std::string_view port_text;
  if (authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) {
      error = "unbalanced '[' in URL host";
      return false;
    }
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') {
        error = "junk after ']' in URL host";
        return false;
      }
      port_text = after.substr(1);
    }
  } else if (const auto colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  if (host.empty()) {
    error = "URL without a host: '" + std::string(text) + "'";
    return false;
  }
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto [end, ec] =
        std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      error = "bad port '" + std::string(port_text) + "' in URL";
      return false;
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  out.host = std::string(host);
  out.target = target.empty() ? std::string("/") : std::string(target);
  if (out.target.front() == '?') out.target.insert(0, "/");
  out.authority = std::string(authority);
  if (out.port == 80 && port_text.empty()) out.authority = std::string(authority);
  return true;
}

}  // namespace sluice::bench
