#include "sluice/mem/input_buffer.h"

#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace sluice::mem {
namespace {

constexpr std::size_t kSpareBytes = std::size_t{64} << 10;
constexpr std::size_t kPlainReadMin = 2048;

}  // namespace

Status InputBuffer::reserve(std::size_t total) {
  if (buf_ && buf_.capacity() - buf_.headroom() >= total) return {};
  if (buf_ && buf_.capacity() >= total) {
    buf_.adjust();
    return {};
  }
  auto bigger = pool_->allocate(total);
  if (!bigger) return bigger.error();
  IoBuf& b = bigger.value();
  if (buf_) b.append(buf_.data(), buf_.size());
  buf_ = std::move(b);
  return {};
}

ReadResult InputBuffer::read_from(int fd, bool until_again) {
  ReadResult r;
  // The buffer is one block, so it can never hold more than the largest class.
  const std::size_t cap = std::min(max_bytes_, kMaxBlockSize);
  alignas(16) char spare[kSpareBytes];
  for (;;) {
    if (size() >= cap) {
      r.kind = ReadResult::Kind::kFull;
      break;
    }
    if (!buf_) {
      auto first = pool_->allocate(kClassSizes[0]);
      if (!first) {
        r.kind = ReadResult::Kind::kError;
        r.error = first.error();
        break;
      }
      buf_ = std::move(first.value());
    } else if (buf_.tailroom() == 0 && buf_.headroom() != 0) {
      buf_.adjust();
    }
    // Never offer more than the cap allows: bytes past it stay in the socket.
    const std::size_t allowed = cap - size();
    const std::size_t tail_len = std::min(buf_.tailroom(), allowed);
    // Edge-triggered, with room in the block, a plain read() of the tail is
    // cheaper for the kernel than readv over two pieces; a burst fills the
    // tail and the next pass (tail full) reads into the spare and grows.
    // Level-triggered reads once per call, so it always offers the spare.
    const std::size_t spare_len =
        until_again && tail_len >= kPlainReadMin ? 0 : std::min(kSpareBytes, allowed - tail_len);
    iovec iov[2];
    int iovcnt = 0;
    if (tail_len != 0) iov[iovcnt++] = {buf_.tail(), tail_len};
    if (spare_len != 0) iov[iovcnt++] = {spare, spare_len};
    const std::size_t offered = tail_len + spare_len;

    ssize_t n;
    do {
      n = iovcnt == 1 ? ::read(fd, iov[0].iov_base, iov[0].iov_len) : ::readv(fd, iov, iovcnt);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) {
        r.kind = ReadResult::Kind::kAgain;
      } else {
        r.kind = ReadResult::Kind::kError;
        r.error = errno_code(err);
      }
      break;
    }
    if (n == 0) {
      r.kind = ReadResult::Kind::kEof;
      break;
    }
    // The kernel's count is not trusted beyond what was offered.
    const std::size_t got = std::min(static_cast<std::size_t>(n), offered);
    if (got <= tail_len) {
      buf_.commit(got);
    } else {
      buf_.commit(tail_len);
      const std::size_t extra = got - tail_len;
      Status st = reserve(size() + extra);
      if (!st.ok()) {
        // The bytes in the spare cannot be kept: the stream is broken, and
        // the caller closes the connection on kError.
        r.bytes += tail_len;
        r.kind = ReadResult::Kind::kError;
        r.error = st.error();
        break;
      }
      buf_.append(spare, extra);
    }
    r.bytes += got;
    if (!until_again) {
      r.kind = size() >= cap ? ReadResult::Kind::kFull : ReadResult::Kind::kData;
      break;
    }
    if (got < offered) {
      // A short read: the socket was drained at that moment, and an
      // edge-triggered watcher reports bytes that arrive later. Saves the
      // read that would return EAGAIN.
      r.kind = size() >= cap ? ReadResult::Kind::kFull : ReadResult::Kind::kAgain;
      break;
    }
  }
  if (buf_ && buf_.size() == 0) buf_.reset();  // an idle buffer holds no block
  return r;
}

void InputBuffer::consume(std::size_t n) noexcept {
  if (!buf_) return;
  buf_.pop(std::min(n, buf_.size()));
  if (buf_.size() == 0) buf_.reset();
}

Status InputBuffer::append(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (bytes.size() > max_bytes_ || size() > max_bytes_ - bytes.size()) return Errc::kBufferFull;
  if (Status st = reserve(size() + bytes.size()); !st.ok()) return st;
  buf_.append(bytes);
  return {};
}

}  // namespace sluice::mem
