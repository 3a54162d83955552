#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace sluice::bench {

Histogram::Histogram() : counts_(bucket_count(), 0) {}

std::size_t Histogram::bucket_of(std::uint64_t value) noexcept {
  if (value < kLinearLimit) return static_cast<std::size_t>(value);
  // shift >= 1 puts value >> shift in [1024, 2047]: 1024 buckets per octave.
  const int top_bit = 63 - std::countl_zero(value);
  const int shift = top_bit - (kLinearBits - 1);
  const std::uint64_t sub = (value >> shift) - kHalf;
  return static_cast<std::size_t>(kLinearLimit + static_cast<std::uint64_t>(shift - 1) * kHalf +
                                  sub);
}

std::uint64_t Histogram::bucket_low(std::size_t index) noexcept {
  if (index < kLinearLimit) return index;
  const std::uint64_t k = index - kLinearLimit;
  const std::uint64_t shift = k / kHalf + 1;
  return (k % kHalf + kHalf) << shift;
}

std::uint64_t Histogram::bucket_width(std::size_t index) noexcept {
  if (index < kLinearLimit) return 1;
  return std::uint64_t{1} << ((index - kLinearLimit) / kHalf + 1);
}

std::size_t Histogram::bucket_count() noexcept { return bucket_of(kMaxValue) + 1; }

std::uint64_t Histogram::rank_of(double p, std::uint64_t n) noexcept {
  if (n == 0) return 0;
  // p * n first keeps whole products exact; the epsilon absorbs 99.9 * n
  // landing a hair above an integer.
  const double exact = p * static_cast<double>(n) / 100.0;
  double r = std::ceil(exact - 1e-9 * std::max(1.0, exact));
  if (r < 1) r = 1;
  if (r > static_cast<double>(n)) return n;
  return static_cast<std::uint64_t>(r);
}

void Histogram::record_n(std::uint64_t value, std::uint64_t n) noexcept {
  if (n == 0) return;
  if (value > kMaxValue) {
    value = kMaxValue;
    clamped_ += n;
  }
  counts_[bucket_of(value)] += n;
  count_ += n;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
  sum_ += value * n;
  const long double v = static_cast<long double>(value);
  sum_squares_ += v * v * static_cast<long double>(n);
}

void Histogram::merge(const Histogram& other) noexcept {
  if (other.count_ == 0) return;
  for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  clamped_ += other.clamped_;
  sum_ += other.sum_;
  sum_squares_ += other.sum_squares_;
}

void Histogram::reset() noexcept {
  std::fill(counts_.begin(), counts_.end(), 0);
  count_ = 0;
  min_ = ~std::uint64_t{0};
  max_ = 0;
  clamped_ = 0;
  sum_ = 0;
  sum_squares_ = 0;
}

double Histogram::mean() const noexcept {
  if (count_ == 0) return 0;
  return static_cast<double>(static_cast<long double>(sum_) / static_cast<long double>(count_));
}

double Histogram::stdev() const noexcept {
  if (count_ < 2) return 0;
  const long double n = static_cast<long double>(count_);
  const long double mean = static_cast<long double>(sum_) / n;
  const long double var = sum_squares_ / n - mean * mean;
  return var > 0 ? static_cast<double>(std::sqrt(var)) : 0.0;
}

std::uint64_t Histogram::percentile(double p) const noexcept {
  if (count_ == 0) return 0;
  if (p >= 100) return max_;
  const std::uint64_t rank = rank_of(p, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      const std::uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
      return std::clamp(mid, min(), max_);
    }
  }
  return max_;
}

}  // namespace sluice::bench
