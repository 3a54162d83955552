// The msg/ wire format: one frame = a 12-byte header and a body.
//
//   offset  size  field    value
//   0       2     magic    0x53 0x4C ("SL")
//   2       1     version  1
//   3       1     flags    bits 0-3 for applications; bits 4-7 reserved, 0
//   4       4     id       message id (the route), big-endian
//   8       4     length   body bytes that follow, big-endian; 0 is valid
//   12      n     body
//
// Ids from kFirstReservedId up belong to the protocol (ping, pong); routers
// refuse them. docs/protocol.md is the byte-by-byte reference.
// Thread rules: constants and pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "sluice/mem/size_class.h"

namespace sluice::msg {

inline constexpr std::size_t kHeaderSize = 12;
inline constexpr std::uint16_t kMagic = 0x534C;  // "SL"
inline constexpr std::uint8_t kVersion = 1;
inline constexpr std::uint8_t kReservedFlagsMask = 0xF0;

inline constexpr std::uint32_t kFirstReservedId = 0xFFFFFF00u;
inline constexpr std::uint32_t kPingId = 0xFFFFFF01u;
inline constexpr std::uint32_t kPongId = 0xFFFFFF02u;

// Default body limit per connection, and the largest configurable one: a
// whole frame must fit in one block of the pool's largest class, so that
// the decoder hands out bodies as views without copying.
inline constexpr std::size_t kDefaultMaxBody = std::size_t{64} << 10;
inline constexpr std::size_t kMaxBodyLimit = mem::kMaxBlockSize - kHeaderSize;

constexpr bool is_reserved_id(std::uint32_t id) noexcept { return id >= kFirstReservedId; }

struct FrameHeader {
  std::uint16_t magic = kMagic;
  std::uint8_t version = kVersion;
  std::uint8_t flags = 0;
  std::uint32_t id = 0;
  std::uint32_t length = 0;
};

// A decoded frame. `body` views the receive buffer: it is valid during the
// handler call only (copy it to keep it).
struct Frame {
  std::uint32_t id = 0;
  std::uint8_t flags = 0;
  std::string_view body;
};

namespace detail {
inline void put16(char* p, std::uint16_t v) noexcept {
  p[0] = static_cast<char>(v >> 8);
  p[1] = static_cast<char>(v & 0xFF);
}
inline void put32(char* p, std::uint32_t v) noexcept {
  put16(p, static_cast<std::uint16_t>(v >> 16));
  put16(p + 2, static_cast<std::uint16_t>(v & 0xFFFF));
}
inline std::uint16_t get16(const char* p) noexcept {
  return static_cast<std::uint16_t>((static_cast<unsigned>(static_cast<unsigned char>(p[0])) << 8) |
                                    static_cast<unsigned char>(p[1]));
}
inline std::uint32_t get32(const char* p) noexcept {
  return (std::uint32_t{get16(p)} << 16) | get16(p + 2);
}
}  // namespace detail

// Writes the kHeaderSize bytes of `h` at `out`, in network byte order.
inline void encode_header(const FrameHeader& h, char* out) noexcept {
  detail::put16(out, h.magic);
  out[2] = static_cast<char>(h.version);
  out[3] = static_cast<char>(h.flags);
  detail::put32(out + 4, h.id);
  detail::put32(out + 8, h.length);
}

// Reads a header from the first kHeaderSize bytes at `in` (no validation).
inline FrameHeader decode_header(const char* in) noexcept {
  FrameHeader h;
  h.magic = detail::get16(in);
  h.version = static_cast<std::uint8_t>(in[2]);
  h.flags = static_cast<std::uint8_t>(in[3]);
  h.id = detail::get32(in + 4);
  h.length = detail::get32(in + 8);
  return h;
}

}  // namespace sluice::msg
