// The pool's size classes: 4K, 16K, 64K, 256K, 1M, 4M, 8M. A request is
// served from the smallest class that fits; above 8M there is no class.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace sluice::mem {

inline constexpr std::size_t kNumClasses = 7;
inline constexpr std::array<std::size_t, kNumClasses> kClassSizes = {
    std::size_t{4} << 10, std::size_t{16} << 10, std::size_t{64} << 10, std::size_t{256} << 10,
    std::size_t{1} << 20, std::size_t{4} << 20,  std::size_t{8} << 20};
inline constexpr std::size_t kMaxBlockSize = kClassSizes.back();

// Index of the smallest class holding `bytes`, or nullopt above 8M.
// bytes == 0 maps to the smallest class.
constexpr std::optional<std::uint8_t> class_for(std::size_t bytes) noexcept {
  for (std::uint8_t i = 0; i < kNumClasses; ++i)
    if (bytes <= kClassSizes[i]) return i;
  return std::nullopt;
}

}  // namespace sluice::mem
