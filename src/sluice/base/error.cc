#include "sluice/base/error.h"

namespace sluice {
namespace {

class SluiceCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sluice"; }
  std::string message(int code) const override {
    switch (static_cast<Errc>(code)) {
      case Errc::kOk: return "ok";
      case Errc::kPoolLimit: return "buffer pool memory limit reached";
      case Errc::kTooLarge: return "request larger than the largest size class";
      case Errc::kBufferFull: return "buffer reached its cap";
      case Errc::kTimeout: return "timed out";
      case Errc::kClosed: return "closed";
      case Errc::kInvalidArgument: return "invalid argument";
    }
    return "unknown sluice error";
  }
};

}  // namespace

const std::error_category& sluice_category() noexcept {
  static const SluiceCategory category;
  return category;
}

}  // namespace sluice
