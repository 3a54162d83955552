// OutputBuffer: bytes waiting to be written to a socket, in order.
//
// Three kinds of piece: copies (appended into pooled blocks), borrowed bytes
// (the owner guarantees they outlive the send: static bodies, cached files in
// memory) and file ranges (sent with sendfile). flush_to() writes with one
// writev over consecutive memory pieces (batched up to IOV_MAX) and sendfile
// for file pieces, until everything is written or the socket says EAGAIN.
// Drained blocks go back to the pool at once: an idle connection holds none.
// The first few pieces live inside the object; more spill to heap storage that
// is freed when the buffer drains. Steady state (a response of a few pieces per
// request) allocates nothing from the heap.
// Thread rules: owned by one connection, used on its loop's thread only.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "sluice/base/error.h"
#include "sluice/base/unique_fd.h"
#include "sluice/mem/buffer_pool.h"
#include "sluice/mem/io_buf.h"

namespace sluice::mem {

// An open file shared by every response that sends from it.
using SharedFile = std::shared_ptr<const UniqueFd>;

struct FlushResult {
  enum class Kind {
    kDone,   // nothing pending
    kAgain,  // EAGAIN with bytes pending: wait for writability
    kError,  // a socket or file error (see `error`); pending bytes stay
  };
  Kind kind = Kind::kDone;
  std::size_t bytes = 0;  // bytes written by this call
  std::error_code error{};
};

class OutputBuffer {
 public:
  explicit OutputBuffer(BufferPool& pool = BufferPool::global()) noexcept;
  ~OutputBuffer();
  OutputBuffer(const OutputBuffer&) = delete;
  OutputBuffer& operator=(const OutputBuffer&) = delete;

  // Copies bytes into pooled blocks (filling the last block's tail first).
  // Fails only when the pool refuses memory; nothing is appended then.
  Status append(std::string_view bytes);
  // Appends bytes without copying; they must stay valid until written.
  void append_borrowed(std::string_view bytes);
  // Appends [offset, offset+length) of `file`, sent with sendfile.
  void append_file(SharedFile file, off_t offset, std::size_t length);

  // A writable tail of at least `min_bytes` in the last block, for callers
  // that format in place; follow with commit(n) (n <= the span's size) before
  // any other call. Errors: kTooLarge above 8M, kPoolLimit.
  Result<std::span<std::byte>> prepare(std::size_t min_bytes);
  void commit(std::size_t n) noexcept;

  // Sockets are written with sendmsg(MSG_NOSIGNAL) (writev for other fds);
  // sendfile cannot suppress SIGPIPE, so programs ignore SIGPIPE.
  FlushResult flush_to(int fd);

  std::size_t pending_bytes() const noexcept { return pending_; }
  bool empty() const noexcept { return pending_ == 0; }
  void clear() noexcept;
  bool holds_block() const noexcept;

 private:
  // Pieces [head_, count_) of pieces_. The array exists only while pieces are
  // pending: the first one (kBasePieces) comes from a per-thread free list,
  // so steady state allocates nothing and an idle buffer holds no array; a
  // bigger one (more pieces at once) comes from the heap. Piece is defined
  // in output_buffer.cc.
  struct Piece;
  static constexpr std::uint32_t kBasePieces = 8;
  static constexpr std::size_t kPieceSize = 40;

  Piece* pieces() noexcept { return pieces_; }
  const Piece* pieces() const noexcept { return pieces_; }
  Piece* last_block() noexcept;  // the last piece if it is a block, else null
  Status push_block(std::size_t min_bytes);
  void push(Piece&& piece);
  void grow();
  void pop_front() noexcept;
  void release_storage() noexcept;

  BufferPool* pool_;
  std::size_t pending_ = 0;
  Piece* pieces_ = nullptr;
  std::uint32_t head_ = 0;   // first pending piece
  std::uint32_t count_ = 0;  // one past the last piece
  std::uint32_t cap_ = 0;
};

}  // namespace sluice::mem
