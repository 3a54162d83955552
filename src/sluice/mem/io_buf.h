// IoBuf: one pooled block and its three regions.
//
//   [ consumed | unconsumed (data) | free tail ]
//   0         head            head+size     capacity
//
// Move-only; the destructor returns the block to its pool. An empty IoBuf
// (default-constructed or moved-from) holds no block.
// Thread rules: a value; may be moved to and released on any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <utility>

namespace sluice::mem {

class BufferPool;

class IoBuf {
 public:
  IoBuf() noexcept = default;
  IoBuf(IoBuf&& other) noexcept { steal(other); }
  IoBuf& operator=(IoBuf&& other) noexcept {
    if (this != &other) {
      reset();
      steal(other);
    }
    return *this;
  }
  IoBuf(const IoBuf&) = delete;
  IoBuf& operator=(const IoBuf&) = delete;
  ~IoBuf() { reset(); }

  bool empty_block() const noexcept { return block_ == nullptr; }
  explicit operator bool() const noexcept { return block_ != nullptr; }

  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return length_; }    // unconsumed bytes
  std::size_t headroom() const noexcept { return head_; }  // consumed bytes
  std::size_t tailroom() const noexcept { return capacity_ - head_ - length_; }
  std::uint8_t size_class() const noexcept { return class_; }

  std::byte* data() noexcept { return block_ + head_; }
  const std::byte* data() const noexcept { return block_ + head_; }
  std::byte* tail() noexcept { return block_ + head_ + length_; }
  std::string_view view() const noexcept {
    return {reinterpret_cast<const char*>(data()), length_};
  }

  // The seed's operations.
  // pop: consume n bytes from the front (n <= size()).
  void pop(std::size_t n) noexcept {
    head_ += static_cast<std::uint32_t>(n);
    length_ -= static_cast<std::uint32_t>(n);
    if (length_ == 0) head_ = 0;
  }
  // adjust: move the unconsumed bytes to the start of the block.
  void adjust() noexcept {
    if (head_ != 0 && length_ != 0) std::memmove(block_, block_ + head_, length_);
    head_ = 0;
  }
  // clear: forget every byte; the block stays.
  void clear() noexcept { head_ = length_ = 0; }
  // commit: n bytes were written into the tail (n <= tailroom()).
  void commit(std::size_t n) noexcept { length_ += static_cast<std::uint32_t>(n); }
  // copy: append bytes into the tail; returns how many fitted.
  std::size_t append(const void* src, std::size_t n) noexcept {
    std::size_t k = n < tailroom() ? n : tailroom();
    if (k) std::memcpy(tail(), src, k);
    length_ += static_cast<std::uint32_t>(k);
    return k;
  }
  std::size_t append(std::string_view s) noexcept { return append(s.data(), s.size()); }

  // Returns the block to its pool now.
  void reset() noexcept {
    if (block_ != nullptr) release_block();
  }

 private:
  friend class BufferPool;
  void release_block() noexcept;  // out of line: needs BufferPool
  IoBuf(BufferPool* pool, std::byte* block, std::uint32_t capacity, std::uint8_t cls) noexcept
      : pool_(pool), block_(block), capacity_(capacity), class_(cls) {}
  void steal(IoBuf& o) noexcept {
    pool_ = std::exchange(o.pool_, nullptr);
    block_ = std::exchange(o.block_, nullptr);
    capacity_ = std::exchange(o.capacity_, 0);
    head_ = std::exchange(o.head_, 0);
    length_ = std::exchange(o.length_, 0);
    class_ = o.class_;
  }

  BufferPool* pool_ = nullptr;
  std::byte* block_ = nullptr;
  std::uint32_t capacity_ = 0;
  std::uint32_t head_ = 0;
  std::uint32_t length_ = 0;
  std::uint8_t class_ = 0;
};

}  // namespace sluice::mem
