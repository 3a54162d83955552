#include "sluice/mem/io_buf.h"

#include "sluice/mem/buffer_pool.h"

namespace sluice::mem {

void IoBuf::release_block() noexcept {
  pool_->release(block_, class_);
  pool_ = nullptr;
  block_ = nullptr;
  capacity_ = head_ = length_ = 0;
  class_ = 0;
}

}  // namespace sluice::mem
