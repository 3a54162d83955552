#include "sluice/net/connection_registry.h"

namespace sluice::net {
namespace {

constexpr ConnectionId make_id(std::uint32_t slot, std::uint32_t generation) noexcept {
  return (static_cast<ConnectionId>(generation) << 32) | slot;
}
constexpr std::uint32_t slot_of(ConnectionId id) noexcept { return static_cast<std::uint32_t>(id); }
constexpr std::uint32_t generation_of(ConnectionId id) noexcept {
  return static_cast<std::uint32_t>(id >> 32);
}

}  // namespace

ConnectionRegistry::ConnectionRegistry(EventLoop& loop, ConnectionHandler& handler,
                                       const ConnectionOptions& options, mem::BufferPool& pool)
    : loop_(loop),
      handler_(handler),
      options_(options),
      pool_(pool),
      alive_(std::make_shared<ConnectionRegistry*>(this)) {}

ConnectionRegistry::~ConnectionRegistry() {
  close_all(CloseReason::kLocalClose);
  sweep();
}

TcpConnection& ConnectionRegistry::add(UniqueFd fd) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.conn = std::make_unique<TcpConnection>(loop_, std::move(fd), handler_, options_,
                                           make_id(slot, s.generation), *this, pool_);
  ++live_;
  TcpConnection& conn = *s.conn;
  conn.start();
  return conn;
}

TcpConnection* ConnectionRegistry::find(ConnectionId id) const noexcept {
  std::uint32_t slot = slot_of(id);
  if (slot >= slots_.size()) return nullptr;
  const Slot& s = slots_[slot];
  if (s.generation != generation_of(id) || !s.conn) return nullptr;
  return s.conn.get();
}

void ConnectionRegistry::for_each(const std::function<void(TcpConnection&)>& fn) {
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].conn && slots_[i].conn->connected()) fn(*slots_[i].conn);
  }
}

void ConnectionRegistry::close_all(CloseReason reason) {
  for_each([reason](TcpConnection& c) { c.close(reason); });
}

void ConnectionRegistry::release(TcpConnection& conn) noexcept {
  std::uint32_t slot = slot_of(conn.id());
  Slot& s = slots_[slot];
  closed_.push_back(std::move(s.conn));
  ++s.generation;
  if (s.generation == 0) s.generation = 1;  // 0 never names a live connection
  free_slots_.push_back(slot);
  --live_;
  if (!sweep_posted_) {
    sweep_posted_ = true;
    loop_.post([weak = std::weak_ptr<ConnectionRegistry*>(alive_)] {
      if (auto self = weak.lock()) (*self)->sweep();
    });
  }
}

void ConnectionRegistry::sweep() noexcept {
  sweep_posted_ = false;
  closed_.clear();
}

void ConnectionHandle::post(std::function<void(TcpConnection&)> fn) const {
  if (!loop_) return;
  loop_->run_in_loop([weak = registry_, id = id_, fn = std::move(fn)] {
    auto self = weak.lock();
    if (!self) return;
    if (TcpConnection* conn = (*self)->find(id); conn && conn->connected()) fn(*conn);
  });
}

void ConnectionHandle::send(std::string bytes) const {
  post([bytes = std::move(bytes)](TcpConnection& c) { (void)c.send(bytes); });
}

void ConnectionHandle::close() const {
  post([](TcpConnection& c) { c.shutdown(); });
}

}  // namespace sluice::net
