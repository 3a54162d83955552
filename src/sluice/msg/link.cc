#include "sluice/msg/link.h"

#include <cstring>
#include <string>

#include "sluice/base/log.h"

namespace sluice::msg {

Link::Link(net::TcpConnection& conn, Endpoint& endpoint)
    : conn_(&conn),
      endpoint_(&endpoint),
      decoder_(endpoint.max_body_bytes),
      silence_(*this),
      pings_(*this) {}

Link::~Link() {
  silence_.stop();
  pings_.stop();
}

void Link::start() {
  conn_->input().set_max_bytes(decoder_.input_cap());
  Stats::add(endpoint_->stats.opened);
  const HeartbeatOptions& hb = endpoint_->heartbeat;
  if (!hb.enabled()) return;
  TimerWheel& wheel = conn_->loop().timers();
  silence_.start(wheel, hb.timeout_ms());
  if (endpoint_->sends_pings) pings_.start(wheel, hb.interval.count());
}

void Link::set_max_body(std::size_t n) noexcept {
  decoder_.set_max_body(n);
  conn_->input().set_max_bytes(decoder_.input_cap());
}

Status Link::send(std::uint32_t id, std::string_view body, std::uint8_t flags) {
  if (!conn_->connected()) return Errc::kClosed;
  if (body.size() > kMaxBodyLimit) return Errc::kTooLarge;
  const std::size_t total = kHeaderSize + body.size();
  auto span = conn_->output().prepare(total);
  if (!span) {
    Stats::add(endpoint_->stats.send_failures);
    return span.error();
  }
  char* out = reinterpret_cast<char*>(span->data());
  encode_header({.flags = flags, .id = id, .length = static_cast<std::uint32_t>(body.size())}, out);
  if (!body.empty()) std::memcpy(out + kHeaderSize, body.data(), body.size());
  conn_->output().commit(total);
  Stats::add(endpoint_->stats.frames_out);
  pings_.sent();
  conn_->flush();
  return {};
}

void Link::close(net::CloseReason reason) { conn_->close(reason); }

void Link::on_input(mem::InputBuffer& in) {
  const std::string_view bytes = in.view();
  std::size_t used = 0;
  std::uint64_t frames = 0;
  for (;;) {
    const DecodeResult r = decoder_.decode(bytes.substr(used));
    if (r.status == DecodeStatus::kNeedMore) break;
    if (r.status != DecodeStatus::kFrame) {
      Stats::add(endpoint_->stats.frames_in, frames);
      fail(r);
      return;  // closed: the input is gone
    }
    used += r.size;
    ++frames;
    silence_.seen();
    pings_.received();
    dispatch(r.frame);
    if (!conn_->connected()) {  // a handler closed it: the input is gone
      Stats::add(endpoint_->stats.frames_in, frames);
      return;
    }
  }
  Stats::add(endpoint_->stats.frames_in, frames);
  in.consume(used);
  partial_bytes_ = in.size();
}

void Link::dispatch(const Frame& frame) {
  Stats& st = endpoint_->stats;
  if (frame.id == kPingId) {
    Stats::add(st.pings_in);
    if (send(kPongId, frame.body, frame.flags)) Stats::add(st.pongs_out);
    return;
  }
  if (frame.id == kPongId) {
    Stats::add(st.pongs_in);
    return;
  }
  const Router::Handler* handler = endpoint_->router->find(frame.id);
  if (handler != nullptr) {
    (*handler)(*this, frame);
    return;
  }
  if (endpoint_->router->unknown_policy() == UnknownIdPolicy::kDrop) {
    Stats::add(st.unknown_dropped);
    return;
  }
  Stats::add(st.unknown_closed);
  if (log_allowed()) {
    SLUICE_LOG(kWarn, "%s: closing %s: no route for message id %u", endpoint_->name,
               conn_->peer_address().to_string().c_str(), frame.id);
  }
  conn_->close(net::CloseReason::kError);
}

void Link::fail(const DecodeResult& r) {
  Stats& st = endpoint_->stats;
  switch (r.status) {
    case DecodeStatus::kBadMagic: Stats::add(st.bad_magic); break;
    case DecodeStatus::kBadVersion: Stats::add(st.bad_version); break;
    case DecodeStatus::kBadFlags: Stats::add(st.bad_flags); break;
    case DecodeStatus::kBadLength: Stats::add(st.bad_length); break;
    case DecodeStatus::kFrame:
    case DecodeStatus::kNeedMore: return;
  }
  error_ = r.status;
  if (log_allowed()) {
    const std::string peer = conn_->peer_address().to_string();
    if (r.status == DecodeStatus::kBadMagic) {
      SLUICE_LOG(kWarn, "%s: closing %s: bad magic 0x%04x", endpoint_->name, peer.c_str(),
                 r.header.magic);
    } else {
      SLUICE_LOG(kWarn, "%s: closing %s: %s (version %u flags 0x%02x id %u length %u, limit %zu)",
                 endpoint_->name, peer.c_str(), to_string(r.status), r.header.version,
                 r.header.flags, r.header.id, r.header.length, decoder_.max_body());
    }
  }
  conn_->close(r.status == DecodeStatus::kBadLength ? net::CloseReason::kLimit
                                                    : net::CloseReason::kError);
}

void Link::on_closed(net::CloseReason reason) {
  silence_.stop();
  pings_.stop();
  Stats::add(endpoint_->stats.closed);
  if (reason == net::CloseReason::kPeerClosed && partial_bytes_ > 0) {
    Stats::add(endpoint_->stats.truncated);
    if (log_allowed()) {
      SLUICE_LOG(kInfo, "%s: peer closed in the middle of a frame (%zu bytes of it received)",
                 endpoint_->name, partial_bytes_);
    }
  }
}

bool Link::log_allowed() noexcept { return log::rate_allow(endpoint_->log_last_ms, 1000); }

void Link::on_silence() {
  heartbeat_expired_ = true;
  Stats::add(endpoint_->stats.heartbeat_timeouts);
  if (log_allowed()) {
    SLUICE_LOG(kInfo, "%s: closing %s: nothing received for %lld ms (heartbeat)", endpoint_->name,
               conn_->peer_address().to_string().c_str(),
               static_cast<long long>(endpoint_->heartbeat.timeout_ms()));
  }
  conn_->close(net::CloseReason::kTimeout);
}

void Link::on_ping_due() {
  if (send(kPingId, {})) Stats::add(endpoint_->stats.pings_out);
}

}  // namespace sluice::msg
