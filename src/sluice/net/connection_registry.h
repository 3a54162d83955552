// ConnectionRegistry: the connections of one loop, owned in a slab of slots
// with generation counters, not a web of shared_ptr.
//
// A ConnectionId names a slot and its generation: once the connection closes
// the slot's generation moves on, so a stale id finds nothing. Closed
// connections are destroyed in a task posted to the loop, after the callback
// that closed them has returned.
// ConnectionHandle lets other threads reach a connection through its loop.
// Thread rules: the registry lives on one loop; handles may be copied to and
// used from any thread while the server that made them exists.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "sluice/net/tcp_connection.h"

namespace sluice::net {

class ConnectionRegistry final : public ConnectionOwner {
 public:
  ConnectionRegistry(EventLoop& loop, ConnectionHandler& handler, const ConnectionOptions& options,
                     mem::BufferPool& pool = mem::BufferPool::global());
  ~ConnectionRegistry();  // closes every live connection
  ConnectionRegistry(const ConnectionRegistry&) = delete;
  ConnectionRegistry& operator=(const ConnectionRegistry&) = delete;

  // Adopts an accepted descriptor and starts the connection.
  TcpConnection& add(UniqueFd fd);
  TcpConnection* find(ConnectionId id) const noexcept;
  std::size_t live() const noexcept { return live_; }
  // Calls fn for every live connection (fn may close it).
  void for_each(const std::function<void(TcpConnection&)>& fn);
  // Closes every live connection now.
  void close_all(CloseReason reason);
  EventLoop& loop() const noexcept { return loop_; }

  void release(TcpConnection& conn) noexcept override;

 private:
  struct Slot {
    std::unique_ptr<TcpConnection> conn;
    std::uint32_t generation = 1;
  };
  void sweep() noexcept;

  EventLoop& loop_;
  ConnectionHandler& handler_;
  const ConnectionOptions& options_;
  mem::BufferPool& pool_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::vector<std::unique_ptr<TcpConnection>> closed_;
  std::size_t live_ = 0;
  bool sweep_posted_ = false;
  std::shared_ptr<ConnectionRegistry*> alive_;  // posted tasks hold a weak_ptr
  friend class ConnectionHandle;
};

class ConnectionHandle {
 public:
  ConnectionHandle() = default;
  ConnectionHandle(const ConnectionRegistry& registry, ConnectionId id)
      : loop_(&registry.loop()), registry_(registry.alive_), id_(id) {}

  ConnectionId id() const noexcept { return id_; }
  // Runs fn on the connection's loop if the connection is still open there.
  void post(std::function<void(TcpConnection&)> fn) const;
  // Copies the bytes and sends them from the connection's loop.
  void send(std::string bytes) const;
  void close() const;

 private:
  EventLoop* loop_ = nullptr;
  std::weak_ptr<ConnectionRegistry*> registry_;
  ConnectionId id_ = 0;
};

}  // namespace sluice::net
