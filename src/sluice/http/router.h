// Router: method + path patterns to handlers.
//
// Patterns are split on '/': a literal segment matches itself, ":name"
// matches one segment and captures it, and a final "*" matches the rest of
// the path (possibly empty), captured as "*". Routes are tried in the order
// they were added. A path that some route matches with another method gives
// 405 with an Allow header; a method the server does not know gives 501.
// Matching allocates nothing: captures are views into the request path.
// Thread rules: build the router before the server starts; after that it is
// read-only and shared by every loop.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/http/request_parser.h"

namespace sluice::http {

class Response;
struct ServerRequest;

using Handler = std::function<void(ServerRequest& request, Response& response)>;

struct RouteParams {
  static constexpr std::size_t kMax = 8;
  std::array<std::pair<std::string_view, std::string_view>, kMax> items{};
  std::size_t size = 0;
  // The captured value of ":name" (or "*"); empty when absent.
  std::string_view get(std::string_view name) const noexcept;
};

// Bit i set: Method(i) is allowed.
using MethodMask = std::uint32_t;
constexpr MethodMask method_bit(Method m) noexcept {
  return MethodMask{1} << static_cast<unsigned>(m);
}

class Router {
 public:
  Router& add(Method method, std::string pattern, Handler handler);
  // A route whose handler runs as soon as the head arrives and takes the
  // body as a stream (ServerRequest::on_body), for bodies of any size.
  Router& stream(Method method, std::string pattern, Handler handler);
  Router& get(std::string pattern, Handler h) {
    return add(Method::kGet, std::move(pattern), std::move(h));
  }
  Router& post(std::string pattern, Handler h) {
    return add(Method::kPost, std::move(pattern), std::move(h));
  }
  Router& put(std::string pattern, Handler h) {
    return add(Method::kPut, std::move(pattern), std::move(h));
  }
  Router& del(std::string pattern, Handler h) {
    return add(Method::kDelete, std::move(pattern), std::move(h));
  }

  struct Match {
    const Handler* handler = nullptr;  // null: see allowed
    RouteParams params;
    MethodMask allowed = 0;  // methods of the routes whose path matched
    bool streaming = false;  // the route takes its body as a stream
  };
  Match match(Method method, std::string_view path) const noexcept;
  // Every method some route takes (for OPTIONS *).
  MethodMask all_methods() const noexcept { return all_methods_; }

 private:
  struct Segment {
    enum class Kind : std::uint8_t { kLiteral, kParam, kRest } kind;
    std::string text;  // the literal, or the parameter's name
  };
  struct Route {
    Method method;
    std::vector<Segment> segments;
    Handler handler;
    bool streaming = false;
  };
  static bool match_route(const Route& r, std::string_view path, RouteParams& params) noexcept;

  std::vector<Route> routes_;
  MethodMask all_methods_ = 0;
};

// "GET, HEAD, POST" for a mask (HEAD is implied by GET).
std::string allow_header_value(MethodMask mask);
std::string_view method_name(Method m) noexcept;

}  // namespace sluice::http
