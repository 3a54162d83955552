#include "sluice/mem/output_buffer.h"

#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <vector>

namespace sluice::mem {
namespace {

constexpr int kIovMax = 1024;  // IOV_MAX on Linux
// One sendfile call moves at most this much (the kernel caps near 2 GiB).
constexpr std::size_t kSendfileChunk = std::size_t{1} << 30;
// New blocks for copied bytes: 16K, or the class the bytes need.
constexpr std::size_t kMinBlockBytes = kClassSizes[1];

// Raw arrays of kBasePieces pieces, kept per thread for reuse.
constexpr std::size_t kFreeArraysKept = 4096;
struct FreeArrays {
  FreeArrays() { arrays.reserve(kFreeArraysKept); }  // push_back never allocates
  std::vector<void*> arrays;
  ~FreeArrays() {
    for (void* a : arrays) ::operator delete(a);
  }
};
thread_local FreeArrays t_free_arrays;

}  // namespace

struct OutputBuffer::Piece {
  enum class Kind : std::uint8_t { kBlock, kBorrowed, kFile };
  struct Borrowed {
    const char* ptr;
    std::size_t len;
  };
  struct FileRange {
    SharedFile file;
    off_t offset;
    std::size_t len;
  };

  explicit Piece(IoBuf&& b) noexcept : buf(std::move(b)), kind(Kind::kBlock) {}
  explicit Piece(Borrowed b) noexcept : borrowed(b), kind(Kind::kBorrowed) {}
  explicit Piece(FileRange&& f) noexcept : range(std::move(f)), kind(Kind::kFile) {}
  Piece(Piece&& o) noexcept : kind(o.kind) {
    switch (kind) {
      case Kind::kBlock: new (&buf) IoBuf(std::move(o.buf)); break;
      case Kind::kBorrowed: new (&borrowed) Borrowed(o.borrowed); break;
      case Kind::kFile: new (&range) FileRange(std::move(o.range)); break;
    }
  }
  Piece& operator=(Piece&&) = delete;
  ~Piece() {
    switch (kind) {
      case Kind::kBlock: buf.~IoBuf(); break;
      case Kind::kBorrowed: break;
      case Kind::kFile: range.~FileRange(); break;
    }
  }

  std::size_t size() const noexcept {
    switch (kind) {
      case Kind::kBlock: return buf.size();
      case Kind::kBorrowed: return borrowed.len;
      case Kind::kFile: return range.len;
    }
    return 0;
  }

  union {
    IoBuf buf;
    Borrowed borrowed;
    FileRange range;
  };
  Kind kind;
};

OutputBuffer::OutputBuffer(BufferPool& pool) noexcept : pool_(&pool) {
  static_assert(sizeof(Piece) == kPieceSize);
  static_assert(alignof(Piece) <= alignof(std::max_align_t));
  static_assert(sizeof(OutputBuffer) <= 48);
}

OutputBuffer::~OutputBuffer() { clear(); }

OutputBuffer::Piece* OutputBuffer::last_block() noexcept {
  if (count_ == head_) return nullptr;
  Piece& last = pieces()[count_ - 1];
  return last.kind == Piece::Kind::kBlock ? &last : nullptr;
}

void OutputBuffer::grow() {
  if (!pieces_) {
    auto& free = t_free_arrays.arrays;
    void* raw;
    if (!free.empty()) {
      raw = free.back();
      free.pop_back();
    } else {
      raw = ::operator new (std::size_t{kBasePieces} * sizeof(Piece));
    }
    pieces_ = static_cast<Piece*>(raw);
    cap_ = kBasePieces;
    head_ = count_ = 0;
    return;
  }
  const std::uint32_t n = count_ - head_;
  const std::uint32_t new_cap = cap_ * 2;
  auto* fresh = static_cast<Piece*>(::operator new (std::size_t{new_cap} * sizeof(Piece)));
  for (std::uint32_t i = 0; i < n; ++i) {
    new (&fresh[i]) Piece(std::move(pieces_[head_ + i]));
    pieces_[head_ + i].~Piece();
  }
  head_ = count_ = 0;
  release_storage();
  pieces_ = fresh;
  cap_ = new_cap;
  count_ = n;
}

void OutputBuffer::push(Piece&& piece) {
  if (!pieces_) grow();
  if (count_ == cap_) {
    if (head_ != 0) {
      // Slide the pending pieces to the front; the slots below head_ are free.
      Piece* p = pieces();
      const std::uint32_t n = count_ - head_;
      for (std::uint32_t i = 0; i < n; ++i) {
        new (&p[i]) Piece(std::move(p[head_ + i]));
        p[head_ + i].~Piece();
      }
      head_ = 0;
      count_ = n;
    } else {
      grow();
    }
  }
  new (&pieces()[count_]) Piece(std::move(piece));
  ++count_;
}

void OutputBuffer::pop_front() noexcept {
  pieces()[head_].~Piece();  // a block goes back to the pool here
  if (++head_ == count_) release_storage();
}

void OutputBuffer::release_storage() noexcept {
  if (pieces_) {
    auto& free = t_free_arrays.arrays;
    if (cap_ == kBasePieces && free.size() < kFreeArraysKept) {
      free.push_back(pieces_);
    } else {
      ::operator delete(pieces_);
    }
  }
  pieces_ = nullptr;
  cap_ = 0;
  head_ = count_ = 0;
}

void OutputBuffer::clear() noexcept {
  Piece* p = pieces();
  for (std::uint32_t i = head_; i < count_; ++i) p[i].~Piece();
  head_ = count_;
  release_storage();
  pending_ = 0;
}

bool OutputBuffer::holds_block() const noexcept {
  const Piece* p = pieces();
  for (std::uint32_t i = head_; i < count_; ++i)
    if (p[i].kind == Piece::Kind::kBlock) return true;
  return false;
}

Status OutputBuffer::push_block(std::size_t min_bytes) {
  auto block = pool_->allocate(std::max(min_bytes, kMinBlockBytes));
  if (!block) return block.error();
  push(Piece(std::move(block.value())));
  return {};
}

Status OutputBuffer::append(std::string_view bytes) {
  if (bytes.empty()) return {};
  Piece* last = last_block();
  const std::size_t room = last != nullptr ? last->buf.tailroom() : 0;
  // Take every block first, so that a refusal leaves the buffer unchanged.
  const std::uint32_t last_rel = count_ - head_;  // old pieces; the last is last_rel - 1
  std::size_t rest = bytes.size() > room ? bytes.size() - room : 0;
  std::uint32_t added = 0;
  while (rest > 0) {
    const std::size_t chunk = std::min(rest, kMaxBlockSize);
    if (Status st = push_block(chunk); !st.ok()) {
      for (; added > 0; --added) pieces()[--count_].~Piece();
      if (count_ == head_) release_storage();
      return st;
    }
    ++added;
    rest -= chunk;
  }
  Piece* p = pieces();
  std::size_t done = 0;
  if (room != 0) done = p[head_ + last_rel - 1].buf.append(bytes.data(), bytes.size());
  for (std::uint32_t i = head_ + last_rel; i < count_; ++i)
    done += p[i].buf.append(bytes.data() + done, bytes.size() - done);
  pending_ += bytes.size();
  return {};
}

void OutputBuffer::append_borrowed(std::string_view bytes) {
  if (bytes.empty()) return;
  push(Piece(Piece::Borrowed{bytes.data(), bytes.size()}));
  pending_ += bytes.size();
}

void OutputBuffer::append_file(SharedFile file, off_t offset, std::size_t length) {
  if (length == 0 || !file) return;
  push(Piece(Piece::FileRange{std::move(file), offset, length}));
  pending_ += length;
}

Result<std::span<std::byte>> OutputBuffer::prepare(std::size_t min_bytes) {
  Piece* last = last_block();
  if (last == nullptr || last->buf.tailroom() < min_bytes || last->buf.tailroom() == 0) {
    if (Status st = push_block(min_bytes); !st.ok()) return st.error();
    last = &pieces()[count_ - 1];
  }
  return std::span<std::byte>(last->buf.tail(), last->buf.tailroom());
}

void OutputBuffer::commit(std::size_t n) noexcept {
  Piece* last = last_block();
  if (last == nullptr) return;
  n = std::min(n, last->buf.tailroom());
  last->buf.commit(n);
  pending_ += n;
}

FlushResult OutputBuffer::flush_to(int fd) {
  FlushResult r;
  bool is_socket = true;
  while (head_ < count_) {
    Piece& front = pieces()[head_];
    if (front.size() == 0) {
      pop_front();
      continue;
    }
    ssize_t n;
    if (front.kind == Piece::Kind::kFile) {
      off_t offset = front.range.offset;
      n = ::sendfile(fd, front.range.file->get(), &offset,
                     std::min(front.range.len, kSendfileChunk));
      if (n == 0) {
        // The file is shorter than the range: it will never be sent.
        r.kind = FlushResult::Kind::kError;
        r.error = std::make_error_code(std::errc::io_error);
        return r;
      }
    } else {
      iovec iov[kIovMax];
      int cnt = 0;
      bool file_follows = false;
      Piece* p = pieces();
      for (std::uint32_t i = head_; i < count_ && cnt < kIovMax; ++i) {
        const Piece& piece = p[i];
        if (piece.kind == Piece::Kind::kFile) {
          file_follows = true;
          break;
        }
        if (piece.size() == 0) continue;
        if (piece.kind == Piece::Kind::kBlock)
          iov[cnt++] = {const_cast<std::byte*>(piece.buf.data()), piece.buf.size()};
        else
          iov[cnt++] = {const_cast<char*>(piece.borrowed.ptr), piece.borrowed.len};
      }
      if (is_socket) {
        msghdr msg{};
        msg.msg_iov = iov;
        msg.msg_iovlen = static_cast<std::size_t>(cnt);
        // A head followed by a file range: MSG_MORE lets the kernel put both
        // in full segments instead of a small packet of its own.
        n = ::sendmsg(fd, &msg, MSG_NOSIGNAL | (file_follows ? MSG_MORE : 0));
        if (n < 0 && errno == ENOTSOCK) {
          is_socket = false;
          continue;
        }
      } else {
        n = ::writev(fd, iov, cnt);
      }
    }
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      r.kind = (err == EAGAIN || err == EWOULDBLOCK) ? FlushResult::Kind::kAgain
                                                     : FlushResult::Kind::kError;
      if (r.kind == FlushResult::Kind::kError) r.error = errno_code(err);
      return r;
    }
    // Advance over what was written; finished pieces are released now.
    std::size_t left = static_cast<std::size_t>(n);
    left = std::min(left, pending_);  // never trust the count past what was offered
    pending_ -= left;
    r.bytes += left;
    while (left > 0 && head_ < count_) {
      Piece& f = pieces()[head_];
      const std::size_t s = f.size();
      if (left >= s) {
        left -= s;
        pop_front();
        continue;
      }
      switch (f.kind) {
        case Piece::Kind::kBlock: f.buf.pop(left); break;
        case Piece::Kind::kBorrowed:
          f.borrowed.ptr += left;
          f.borrowed.len -= left;
          break;
        case Piece::Kind::kFile:
          f.range.offset += static_cast<off_t>(left);
          f.range.len -= left;
          break;
      }
      left = 0;
    }
  }
  r.kind = FlushResult::Kind::kDone;
  return r;
}

}  // namespace sluice::mem
