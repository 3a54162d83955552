#include "sluice/msg/router.h"

namespace sluice::msg {

Status Router::on(std::uint32_t id, Handler handler) {
  if (is_reserved_id(id) || !handler) return Errc::kInvalidArgument;
  routes_[id] = std::move(handler);
  return {};
}

const Router::Handler* Router::find(std::uint32_t id) const noexcept {
  auto it = routes_.find(id);
  return it == routes_.end() ? nullptr : &it->second;
}

}  // namespace sluice::msg
