// Histogram: 3 significant digits, merge, extremes.
#include "histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sluice::bench {
namespace {

constexpr double kPercentiles[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

void expect_within_a_thousandth(const std::vector<std::uint64_t>& values) {
  Histogram h;
  for (auto v : values) h.record(v);
  std::vector<std::uint64_t> sorted = values;
  std::sort(sorted.begin(), sorted.end());
  for (double p : kPercentiles) {
    const std::uint64_t exact = sorted[Histogram::rank_of(p, sorted.size()) - 1];
    const std::uint64_t got = h.percentile(p);
    const double error = std::abs(static_cast<double>(got) - static_cast<double>(exact)) /
                         static_cast<double>(std::max<std::uint64_t>(exact, 1));
    EXPECT_LE(error, 0.001) << "p" << p << " exact " << exact << " got " << got;
  }
}

TEST(Histogram, PercentilesWithinTenthOfAPercentUniform) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::uint64_t> dist(1, 5'000'000);
  std::vector<std::uint64_t> v(200'000);
  for (auto& x : v) x = dist(rng);
  expect_within_a_thousandth(v);
}

TEST(Histogram, PercentilesWithinTenthOfAPercentFromMicrosecondsToMinutes) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> exponent(0, std::log(600e6));  // 1 us .. 10 min
  std::vector<std::uint64_t> v(200'000);
  for (auto& x : v) x = static_cast<std::uint64_t>(std::exp(exponent(rng)));
  expect_within_a_thousandth(v);
}

TEST(Histogram, EveryBucketBoundaryIsWithinTolerance) {
  for (std::size_t i = 0; i + 1 < Histogram::bucket_count(); ++i) {
    const std::uint64_t low = Histogram::bucket_low(i);
    ASSERT_EQ(Histogram::bucket_of(low), i);
    ASSERT_EQ(Histogram::bucket_low(i + 1), low + Histogram::bucket_width(i));
    ASSERT_LE(static_cast<double>(Histogram::bucket_width(i)) / 2,
              0.0005 * static_cast<double>(std::max<std::uint64_t>(low, 1)) + 0.5);
  }
}

TEST(Histogram, ExactStatisticsAndSmallValues) {
  Histogram h;
  for (std::uint64_t v : {1ULL, 2ULL, 3ULL, 4ULL}) h.record(v);
  EXPECT_EQ(h.count(), 4u);
  EXPECT_EQ(h.min(), 1u);
  EXPECT_EQ(h.max(), 4u);
  EXPECT_DOUBLE_EQ(h.mean(), 2.5);
  EXPECT_NEAR(h.stdev(), std::sqrt(1.25), 1e-12);
  EXPECT_EQ(h.percentile(50), 2u);
  EXPECT_EQ(h.percentile(75), 3u);
  EXPECT_EQ(h.percentile(100), 4u);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  Histogram a, b, all;
  std::mt19937_64 rng(3);
  std::uniform_int_distribution<std::uint64_t> dist(0, 10'000'000);
  for (int i = 0; i < 50'000; ++i) {
    const auto v = dist(rng);
    (i % 3 == 0 ? a : b).record(v);
    all.record(v);
  }
  a.merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  EXPECT_DOUBLE_EQ(a.mean(), all.mean());
  EXPECT_NEAR(a.stdev(), all.stdev(), 1e-6 * all.stdev());
  for (double p : kPercentiles) EXPECT_EQ(a.percentile(p), all.percentile(p)) << p;
}

TEST(Histogram, Extremes) {
  Histogram empty;
  EXPECT_EQ(empty.count(), 0u);
  EXPECT_EQ(empty.percentile(99), 0u);
  EXPECT_EQ(empty.min(), 0u);
  EXPECT_EQ(empty.max(), 0u);
  EXPECT_EQ(empty.mean(), 0.0);

  Histogram h;
  h.record(0);
  h.record(Histogram::kMaxValue);
  h.record(~std::uint64_t{0});  // clamped
  EXPECT_EQ(h.clamped(), 1u);
  EXPECT_EQ(h.min(), 0u);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
  EXPECT_EQ(h.percentile(1), 0u);
  EXPECT_EQ(h.percentile(100), Histogram::kMaxValue);
  // Sixty minutes in microseconds is inside the range, to 3 digits.
  Histogram hour;
  hour.record(3'600'000'000ULL);
  EXPECT_EQ(hour.percentile(50), 3'600'000'000ULL);

  Histogram many;
  many.record_n(1000, 1'000'000);
  many.record(5);
  EXPECT_EQ(many.percentile(0.00005), 5u);
  EXPECT_EQ(many.percentile(50), 1000u);
  Histogram merged_into_empty;
  merged_into_empty.merge(many);
  EXPECT_EQ(merged_into_empty.min(), 5u);
  merged_into_empty.merge(empty);
  EXPECT_EQ(merged_into_empty.count(), 1'000'001u);
}

}  // namespace
}  // namespace sluice::bench
