#include "sluice/http/router.h"

namespace sluice::http {

std::string_view RouteParams::get(std::string_view name) const noexcept {
  for (std::size_t i = 0; i < size; ++i)
    if (items[i].first == name) return items[i].second;
  return {};
}

namespace {

Router::Match no_match() { return {}; }

}  // namespace

Router& Router::add(Method method, std::string pattern, Handler handler) {
  Route r;
  r.method = method;
  r.handler = std::move(handler);
  std::string_view p = pattern;
  if (!p.empty() && p.front() == '/') p.remove_prefix(1);
  while (!p.empty() || r.segments.empty()) {
    auto slash = p.find('/');
    std::string_view seg = p.substr(0, slash);
    if (seg == "*") {
      r.segments.push_back({Segment::Kind::kRest, "*"});
      break;
    }
    if (!seg.empty() && seg.front() == ':') {
      r.segments.push_back({Segment::Kind::kParam, std::string(seg.substr(1))});
    } else {
      r.segments.push_back({Segment::Kind::kLiteral, std::string(seg)});
    }
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
    if (p.empty()) r.segments.push_back({Segment::Kind::kLiteral, ""});  // trailing slash
  }
  all_methods_ |= method_bit(method);
  routes_.push_back(std::move(r));
  return *this;
}

Router& Router::stream(Method method, std::string pattern, Handler handler) {
  add(method, std::move(pattern), std::move(handler));
  routes_.back().streaming = true;
  return *this;
}

bool Router::match_route(const Route& r, std::string_view path, RouteParams& params) noexcept {
  params.size = 0;
  if (path.empty() || path.front() != '/') return false;
  path.remove_prefix(1);
  for (std::size_t i = 0; i < r.segments.size(); ++i) {
    const Segment& s = r.segments[i];
    if (s.kind == Segment::Kind::kRest) {
      if (params.size < RouteParams::kMax) params.items[params.size++] = {"*", path};
      return true;
    }
    auto slash = path.find('/');
    std::string_view seg = path.substr(0, slash);
    bool last = i + 1 == r.segments.size();
    if (s.kind == Segment::Kind::kLiteral) {
      if (seg != s.text) return false;
    } else {
      if (seg.empty()) return false;
      if (params.size < RouteParams::kMax) params.items[params.size++] = {s.text, seg};
    }
    if (last) return slash == std::string_view::npos;
    if (slash == std::string_view::npos) return false;
    path.remove_prefix(slash + 1);
  }
  return false;
}

Router::Match Router::match(Method method, std::string_view path) const noexcept {
  Match m = no_match();
  RouteParams params;
  for (const Route& r : routes_) {
    if (!match_route(r, path, params)) continue;
    m.allowed |= method_bit(r.method);
    bool same = r.method == method || (method == Method::kHead && r.method == Method::kGet);
    if (same && !m.handler) {
      m.handler = &r.handler;
      m.params = params;
      m.streaming = r.streaming;
    }
  }
  return m;
}

std::string_view method_name(Method m) noexcept {
  switch (m) {
    case Method::kGet: return "GET";
    case Method::kHead: return "HEAD";
    case Method::kPost: return "POST";
    case Method::kPut: return "PUT";
    case Method::kDelete: return "DELETE";
    case Method::kConnect: return "CONNECT";
    case Method::kOptions: return "OPTIONS";
    case Method::kTrace: return "TRACE";
    case Method::kPatch: return "PATCH";
    case Method::kOther: break;
  }
  return "";
}

std::string allow_header_value(MethodMask mask) {
  if (mask & method_bit(Method::kGet)) mask |= method_bit(Method::kHead);
  mask |= method_bit(Method::kOptions);
  std::string out;
  for (unsigned i = 1; i <= static_cast<unsigned>(Method::kPatch); ++i) {
    if (!(mask & (MethodMask{1} << i))) continue;
    if (!out.empty()) out += ", ";
    out += method_name(static_cast<Method>(i));
  }
  return out;
}

}  // namespace sluice::http
