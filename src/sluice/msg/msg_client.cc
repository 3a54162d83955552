#include "sluice/msg/msg_client.h"

namespace sluice::msg {

class MsgClient::Handler final : public net::TypedHandler<Link> {
 public:
  explicit Handler(MsgClient& client) : client_(client) {}

  std::unique_ptr<Link> make_context(net::TcpConnection& c) override {
    return std::make_unique<Link>(c, client_.endpoint_);
  }
  void on_open(net::TcpConnection&, Link& link) override {
    link.start();
    client_.link_ = &link;
    if (client_.on_connected_) client_.on_connected_(link);
  }
  void on_message(net::TcpConnection&, Link& link, mem::InputBuffer& in) override {
    link.on_input(in);
  }
  void on_close(net::TcpConnection&, Link& link, net::CloseReason reason) override {
    link.on_closed(reason);
    if (client_.link_ == &link) client_.link_ = nullptr;
    if (client_.on_disconnected_) client_.on_disconnected_(reason);
  }

 private:
  MsgClient& client_;
};

MsgClient::MsgClient(EventLoop& loop, net::InetAddress server, const Router& router,
                     MsgClientOptions options, mem::BufferPool& pool) {
  endpoint_.router = &router;
  endpoint_.max_body_bytes = options.max_body_bytes;
  endpoint_.heartbeat = options.heartbeat;
  endpoint_.sends_pings = true;
  endpoint_.name = "msg-client";
  net::TcpClientOptions tcp;
  tcp.connect_timeout = options.connect_timeout;
  tcp.max_attempts = options.max_attempts;
  tcp.backoff_initial = options.backoff_initial;
  tcp.backoff_max = options.backoff_max;
  tcp.reconnect = options.reconnect;
  tcp.connection = options.connection;
  tcp.connection.max_input_bytes = Decoder(options.max_body_bytes).input_cap();
  handler_ = std::make_unique<Handler>(*this);
  tcp_ = std::make_unique<net::TcpClient>(loop, server, *handler_, std::move(tcp), pool);
}

MsgClient::~MsgClient() {
  // The connection's close callbacks run in TcpClient's destructor: they
  // must not reach this object's callbacks any more.
  on_connected_ = nullptr;
  on_disconnected_ = nullptr;
  tcp_.reset();
}

Status MsgClient::send(std::uint32_t id, std::string_view body, std::uint8_t flags) {
  if (link_ == nullptr) return Errc::kClosed;
  return link_->send(id, body, flags);
}

}  // namespace sluice::msg
