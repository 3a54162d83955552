#include "sluice/http/server.h"

#include <algorithm>

#include "sluice/http/chars.h"
#include "sluice/http/session.h"

namespace sluice::http {

class HttpServer::Handler final : public net::TypedHandler<Session> {
 public:
  explicit Handler(HttpServer& server) : server_(server) {}
  std::unique_ptr<Session> make_context(net::TcpConnection&) override {
    return std::make_unique<Session>(server_);
  }
  void on_open(net::TcpConnection& c, Session& s) override { s.on_open(c); }
  void on_message(net::TcpConnection& c, Session& s, mem::InputBuffer& in) override {
    s.on_message(c, in);
  }
  void on_write_complete(net::TcpConnection& c, Session& s) override { s.on_write_complete(c); }
  void on_drain(net::TcpConnection& c, Session& s) override { s.on_drain(c); }
  void on_close(net::TcpConnection& c, Session& s, net::CloseReason r) override {
    s.on_close(c, r);
  }

 private:
  HttpServer& server_;
};

namespace {
std::atomic<std::uint64_t> g_next_server_id{1};
}  // namespace

HttpServer::HttpServer(ServerOptions options, const Router& router, mem::BufferPool& pool)
    : options_(std::move(options)),
      router_(router),
      handler_(std::make_unique<Handler>(*this)),
      id_(g_next_server_id.fetch_add(1, std::memory_order_relaxed)) {
  net::ConnectionOptions& c = options_.tcp.connection;
  c.write_timeout = options_.send_timeout;
  c.idle_timeout = options_.keepalive_timeout;
  // A buffered request (head and body) must fit in the input buffer.
  std::size_t want = options_.limits.max_request_line + options_.limits.max_header_bytes +
                     options_.max_buffered_body + (std::size_t{64} << 10);
  c.max_input_bytes = std::min(std::max(c.max_input_bytes, want), mem::kMaxBlockSize);
  tcp_ = std::make_unique<net::TcpServer>(options_.tcp, *handler_, pool);
}

HttpServer::~HttpServer() { stop(Duration::zero()); }

Status HttpServer::start() { return tcp_->start(); }

void HttpServer::stop(Duration grace) {
  draining_.store(true, std::memory_order_relaxed);
  tcp_->stop(grace);
}

namespace {

std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && chars::hex_value(s[i + 1]) >= 0 &&
               chars::hex_value(s[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(chars::hex_value(s[i + 1]) * 16 + chars::hex_value(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string ServerRequest::query_param(std::string_view name) const {
  std::string_view q = head.query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    auto eq = pair.find('=');
    std::string_view key = pair.substr(0, eq);
    if (percent_decode(key) == name)
      return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return {};
}

void ServerRequest::on_body(BodySink sink) {
  if (session) session->set_body_sink(std::move(sink));
}

}  // namespace sluice::http
