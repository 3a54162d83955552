// Histogram: latency counts in log-linear buckets, 3 significant digits.
//
// Values are unsigned integers (sluice-bench records microseconds). Values
// below 2048 have a bucket each; above, every power-of-two range is split
// into 1024 equal buckets, so a bucket is at most 1/1024 of its values wide
// and a percentile reported as its bucket's midpoint is within 0.05% of the
// true sample. The range ends at 2^36-1 (about 19 hours in microseconds);
// larger values are clamped to it and counted in clamped().
// min, max, mean and stdev are exact (kept beside the buckets).
// Recording is O(1) with no allocation; merge adds bucket by bucket, so
// per-thread histograms combine into one with no loss.
// Thread rules: a value; one thread records, merge after the threads join.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sluice::bench {

class Histogram {
 public:
  static constexpr int kLinearBits = 11;  // 2048 exact buckets
  static constexpr std::uint64_t kLinearLimit = std::uint64_t{1} << kLinearBits;
  static constexpr std::uint64_t kHalf = kLinearLimit / 2;  // buckets per octave
  static constexpr std::uint64_t kMaxValue = (std::uint64_t{1} << 36) - 1;

  Histogram();

  void record(std::uint64_t value) noexcept { record_n(value, 1); }
  void record_n(std::uint64_t value, std::uint64_t n) noexcept;
  void merge(const Histogram& other) noexcept;
  void reset() noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  std::uint64_t clamped() const noexcept { return clamped_; }
  double mean() const noexcept;
  double stdev() const noexcept;  // population standard deviation
  // The value at percentile p (0 < p <= 100): the smallest recorded value v
  // such that at least p% of the samples are <= v, to 3 significant digits.
  std::uint64_t percentile(double p) const noexcept;

  // Bucket arithmetic, exposed for tests.
  static std::size_t bucket_of(std::uint64_t value) noexcept;
  static std::uint64_t bucket_low(std::size_t index) noexcept;
  static std::uint64_t bucket_width(std::size_t index) noexcept;
  static std::size_t bucket_count() noexcept;
  // 1-based rank of percentile p among n samples (how percentile() picks).
  static std::uint64_t rank_of(double p, std::uint64_t n) noexcept;

 private:
  std::vector<std::uint64_t> counts_;  // sized once, in the constructor
  std::uint64_t count_ = 0;
  std::uint64_t min_ = ~std::uint64_t{0};
  std::uint64_t max_ = 0;
  std::uint64_t clamped_ = 0;
  std::uint64_t sum_ = 0;  // microseconds: 2^64 us is 584,000 years of latency
  long double sum_squares_ = 0;
};

}  // namespace sluice::bench
