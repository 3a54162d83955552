#include "request.h"

#include <strings.h>

namespace sluice::bench {
namespace {

bool user_sets(const Options& o, const char* name) {
  for (const auto& [k, v] : o.headers)
    if (::strcasecmp(k.c_str(), name) == 0) return true;
  return false;
}

}  // namespace

std::string render_request(const Options& o) {
  std::string r;
  r.reserve(256 + o.body.size());
  r += o.method;
  r += ' ';
  r += o.url.target;
  r += o.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n";
  if (!user_sets(o, "Host")) r += "Host: " + o.url.authority + "\r\n";
  if (!user_sets(o, "User-Agent")) r += "User-Agent: sluice-bench\r\n";
  if (!user_sets(o, "Connection")) {
    if (!o.keepalive)
      r += "Connection: close\r\n";
    else if (o.http10)
      r += "Connection: keep-alive\r\n";
  }
  for (const auto& [k, v] : o.headers) r += k + ": " + v + "\r\n";
  if ((!o.body.empty() || o.method == "POST" || o.method == "PUT") &&
      !user_sets(o, "Content-Length"))
    r += "Content-Length: " + std::to_string(o.body.size()) + "\r\n";
  r += "\r\n";
  r += o.body;
  return r;
}

}  // namespace sluice::bench
