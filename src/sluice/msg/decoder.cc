#include "sluice/msg/decoder.h"

namespace sluice::msg {

const char* to_string(DecodeStatus s) noexcept {
  switch (s) {
    case DecodeStatus::kFrame: return "frame";
    case DecodeStatus::kNeedMore: return "need more";
    case DecodeStatus::kBadMagic: return "bad magic";
    case DecodeStatus::kBadVersion: return "bad version";
    case DecodeStatus::kBadFlags: return "bad flags";
    case DecodeStatus::kBadLength: return "body too long";
  }
  return "unknown";
}

DecodeResult Decoder::decode(std::string_view bytes) const noexcept {
  DecodeResult r;
  // A garbage stream is refused from its first bytes, without waiting for a
  // whole header: the magic is checked as soon as it is in.
  if (bytes.size() >= 2 && detail::get16(bytes.data()) != kMagic) {
    r.status = DecodeStatus::kBadMagic;
    r.header.magic = detail::get16(bytes.data());
    return r;
  }
  if (bytes.size() < kHeaderSize) return r;
  r.header = decode_header(bytes.data());
  if (r.header.version != kVersion) {
    r.status = DecodeStatus::kBadVersion;
  } else if ((r.header.flags & kReservedFlagsMask) != 0) {
    r.status = DecodeStatus::kBadFlags;
  } else if (r.header.length > max_body_) {
    r.status = DecodeStatus::kBadLength;
  } else if (bytes.size() - kHeaderSize >= r.header.length) {
    r.status = DecodeStatus::kFrame;
    r.size = kHeaderSize + r.header.length;
    r.frame.id = r.header.id;
    r.frame.flags = r.header.flags;
    r.frame.body = bytes.substr(kHeaderSize, r.header.length);
  }
  return r;
}

}  // namespace sluice::msg
