// InputBuffer: bytes read from a socket, waiting for a parser.
//
// Reads with readv into the free tail of its block plus a 64 KiB spare on the
// stack, so one call takes whatever the kernel has without trusting FIONREAD.
// The buffer stays contiguous (parsers get one view): when the spare was used
// it moves to a block of a larger class. It never grows past the cap its owner
// sets; at the cap, read_from() stops and reports kFull.
// When every byte has been consumed, the block goes back to the pool: an idle
// connection holds no block.
// Thread rules: owned by one connection, used on its loop's thread only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string_view>
#include <system_error>

#include "sluice/mem/buffer_pool.h"
#include "sluice/mem/io_buf.h"

namespace sluice::mem {

struct ReadResult {
  enum class Kind {
    kData,   // bytes arrived; the socket may have more (level-triggered)
    kAgain,  // EAGAIN: drained (edge-triggered callers may wait for the next event)
    kEof,    // the peer closed its side (bytes read before EOF are in the buffer)
    kFull,   // the cap is reached; consume before reading more
    kError,  // a socket error (see `error`), or the pool refused memory
  };
  Kind kind = Kind::kAgain;
  std::size_t bytes = 0;    // bytes added to the buffer by this call
  std::error_code error{};  // for kError
};

class InputBuffer {
 public:
  explicit InputBuffer(BufferPool& pool = BufferPool::global(),
                       std::size_t max_bytes = kMaxBlockSize) noexcept
      : pool_(&pool), max_bytes_(max_bytes) {}

  // Reads from `fd`. With `until_again` (edge-triggered watchers) it loops
  // until EAGAIN, EOF, the cap or an error; a short read (fewer bytes than
  // offered) ends the loop too and reports kAgain, because the socket was
  // drained at that moment and a new edge will report new bytes. Without it,
  // one readv per call (kData, or kFull when it reached the cap).
  // `bytes` counts what this call added, whatever the kind. On kError the
  // stream is broken (with Errc::kPoolLimit, bytes read into the spare could
  // not be kept): close the connection. The first block is taken lazily
  // (4K class) and given back if the call leaves the buffer empty.
  ReadResult read_from(int fd, bool until_again);

  std::string_view view() const noexcept { return buf_.view(); }
  std::size_t size() const noexcept { return buf_.size(); }
  bool empty() const noexcept { return buf_.size() == 0; }
  // Drops n bytes from the front (n <= size()); returns the block when empty.
  void consume(std::size_t n) noexcept;
  // Appends bytes (for tests and for protocols that re-inject data).
  Status append(std::string_view bytes);
  void clear() noexcept { buf_.reset(); }

  void set_max_bytes(std::size_t max_bytes) noexcept { max_bytes_ = max_bytes; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  // True while a block is held (for tests of the idle-holds-nothing rule).
  bool holds_block() const noexcept { return static_cast<bool>(buf_); }

 private:
  Status reserve(std::size_t total);  // ensure capacity >= total, contiguous

  BufferPool* pool_;
  std::size_t max_bytes_;
  IoBuf buf_;
};

}  // namespace sluice::mem
