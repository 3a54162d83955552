#include "sluice/msg/msg_server.h"

namespace sluice::msg {

class MsgServer::Handler final : public net::TypedHandler<Link> {
 public:
  explicit Handler(Endpoint& endpoint) : endpoint_(endpoint) {}

  std::unique_ptr<Link> make_context(net::TcpConnection& c) override {
    return std::make_unique<Link>(c, endpoint_);
  }
  void on_open(net::TcpConnection&, Link& link) override { link.start(); }
  void on_message(net::TcpConnection&, Link& link, mem::InputBuffer& in) override {
    link.on_input(in);
  }
  void on_close(net::TcpConnection&, Link& link, net::CloseReason reason) override {
    link.on_closed(reason);
  }

 private:
  Endpoint& endpoint_;
};

MsgServer::MsgServer(MsgServerOptions options, const Router& router, mem::BufferPool& pool)
    : options_(std::move(options)) {
  endpoint_.router = &router;
  endpoint_.max_body_bytes = options_.max_body_bytes;
  endpoint_.heartbeat = options_.heartbeat;
  endpoint_.sends_pings = false;
  endpoint_.name = "msg-server";
  // A whole frame of the largest size must fit in the input buffer.
  net::TcpServerOptions tcp = options_.tcp;
  tcp.connection.max_input_bytes = Decoder(options_.max_body_bytes).input_cap();
  handler_ = std::make_unique<Handler>(endpoint_);
  tcp_ = std::make_unique<net::TcpServer>(std::move(tcp), *handler_, pool);
}

MsgServer::~MsgServer() { tcp_.reset(); }

Status MsgServer::start() {
  if (options_.max_body_bytes > kMaxBodyLimit || !options_.heartbeat.valid())
    return Errc::kInvalidArgument;
  return tcp_->start();
}

void MsgServer::stop(Duration grace) { tcp_->stop(grace); }
void MsgServer::stop_accepting() { tcp_->stop_accepting(); }
std::uint16_t MsgServer::port() const noexcept { return tcp_->port(); }
std::uint64_t MsgServer::live_connections() { return tcp_->live_connections(); }

}  // namespace sluice::msg
