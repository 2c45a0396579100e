// The bench histogram: bucket boundaries and percentiles against exact answers.
#include "tools/bench/histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

namespace parley::tools::bench {
namespace {

TEST(histogram, empty_is_zero) {
  histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.percentile(50), 0u);
  EXPECT_EQ(h.max(), 0u);
}

TEST(histogram, small_values_are_exact) {
  histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  EXPECT_EQ(h.count(), 100u);
  EXPECT_EQ(h.percentile(50), 50u);
  EXPECT_EQ(h.percentile(90), 90u);
  EXPECT_EQ(h.percentile(99), 99u);
  EXPECT_EQ(h.percentile(99.9), 100u);
  EXPECT_EQ(h.percentile(100), 100u);
  EXPECT_EQ(h.max(), 100u);
}

TEST(histogram, buckets_are_contiguous_and_tight) {
  // Every value maps into a bucket whose high end is >= the value and within 1/64 of it.
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 1000ull, 12345ull,
                          999'999ull, 1ull << 30, (1ull << 36) - 1}) {
    auto b = histogram::bucket_of(v);
    auto hi = histogram::bucket_high(b);
    EXPECT_GE(hi, v) << v;
    EXPECT_LE(static_cast<double>(hi - v), static_cast<double>(v) / 64.0 + 1) << v;
    if (b > 0) {
      EXPECT_LT(histogram::bucket_high(b - 1), v) << v;
    }
  }
  // Consecutive buckets tile the range without holes.
  for (std::size_t b = 1; b < histogram::k_buckets - 1; ++b) {
    EXPECT_EQ(histogram::bucket_of(histogram::bucket_high(b - 1) + 1), b) << b;
  }
}

TEST(histogram, percentiles_match_sorted_data_within_precision) {
  std::mt19937_64 rng(42);
  std::lognormal_distribution<double> dist(7.0, 1.5);  // microseconds, long tail
  std::vector<std::uint64_t> values;
  histogram h;
  for (int i = 0; i < 100'000; ++i) {
    auto v = static_cast<std::uint64_t>(dist(rng));
    values.push_back(v);
    h.record(v);
  }
  std::sort(values.begin(), values.end());
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
    std::uint64_t exact = values[rank - 1];
    std::uint64_t got = h.percentile(p);
    EXPECT_GE(got, exact) << p;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * (1 + 1.0 / 64) + 1) << p;
  }
  EXPECT_EQ(h.max(), values.back());
  EXPECT_EQ(h.percentile(100), values.back());
}

TEST(histogram, clamps_huge_values_but_keeps_exact_max) {
  histogram h;
  h.record(1ull << 50);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max(), 1ull << 50);
  EXPECT_EQ(h.percentile(50), histogram::k_max_us);
}

TEST(histogram, concurrent_records_are_all_counted) {
  histogram h;
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&h, t] {
      for (int i = 0; i < 50'000; ++i) h.record(static_cast<std::uint64_t>(i % 1000 + t));
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(h.count(), 200'000u);
  EXPECT_EQ(h.max(), 1002u);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
}

}  // namespace
}  // namespace parley::tools::bench
