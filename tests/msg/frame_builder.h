// Builds frames byte by byte for the msg/ tests, independently of the
// library's encoder, so that a bug in one is not hidden by the other.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::msg::test {

inline void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

struct RawFrame {
  std::uint16_t magic = 0x534C;
  std::uint8_t version = 1;
  std::uint8_t flags = 0;
  std::uint32_t id = 1;
  std::string body;
  // When set, the length field says this instead of body.size().
  std::int64_t length_override = -1;

  std::string bytes() const {
    std::string out;
    put_be(out, magic, 2);
    put_be(out, version, 1);
    put_be(out, flags, 1);
    put_be(out, id, 4);
    put_be(out, length_override >= 0 ? static_cast<std::uint64_t>(length_override) : body.size(),
           4);
    out += body;
    return out;
  }
};

inline std::string frame(std::uint32_t id, std::string_view body, std::uint8_t flags = 0) {
  RawFrame f;
  f.id = id;
  f.flags = flags;
  f.body = std::string(body);
  return f.bytes();
}

}  // namespace sluice::msg::test
