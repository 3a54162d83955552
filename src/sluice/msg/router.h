// Router: message id -> handler.
//
// One router serves every connection of a server or client; register the
// routes before the server or client starts (lookups then only read, from
// every loop thread at once). Reserved ids (ping, pong) cannot be routed.
// What happens to a frame whose id has no route is the router's policy:
// drop it and count it, or close the connection.
// Thread rules: add routes on one thread before start; find() from any.
#pragma once

#include <cstdint>
#include <functional>
#include <unordered_map>

#include "sluice/base/error.h"
#include "sluice/msg/frame.h"

namespace sluice::msg {

class Link;

enum class UnknownIdPolicy : std::uint8_t {
  kDrop,   // count it (Stats::unknown_dropped) and go on
  kClose,  // count it (Stats::unknown_closed) and close the connection
};

class Router {
 public:
  // The frame's body views the receive buffer: valid during the call only.
  using Handler = std::function<void(Link&, const Frame&)>;

  explicit Router(UnknownIdPolicy unknown = UnknownIdPolicy::kDrop) : unknown_(unknown) {}

  // Errc::kInvalidArgument for a reserved id or an empty handler. A second
  // handler for an id replaces the first.
  Status on(std::uint32_t id, Handler handler);
  // The handler for `id`, or nullptr.
  const Handler* find(std::uint32_t id) const noexcept;

  void set_unknown_policy(UnknownIdPolicy p) noexcept { unknown_ = p; }
  UnknownIdPolicy unknown_policy() const noexcept { return unknown_; }
  std::size_t size() const noexcept { return routes_.size(); }

 private:
  std::unordered_map<std::uint32_t, Handler> routes_;
  UnknownIdPolicy unknown_;
};

}  // namespace sluice::msg
