#include "tools/bench/histogram.h"

#include <bit>
#include <cmath>

namespace parley::tools::bench {

namespace {
constexpr std::uint64_t k_exact = std::uint64_t{1} << histogram::k_sub_bits;
constexpr std::uint64_t k_half = k_exact / 2;  // buckets per octave above the exact range
}  // namespace

std::size_t histogram::bucket_of(std::uint64_t us) {
  if (us > k_max_us) us = k_max_us;
  if (us < k_exact) return static_cast<std::size_t>(us);
  // The octave [2^m, 2^(m+1)) with m >= k_sub_bits, split into k_half buckets of 2^(m-6).
  int m = std::bit_width(us) - 1;
  int shift = m - (k_sub_bits - 1);
  std::uint64_t sub = (us >> shift) - k_half;  // 0 .. k_half-1
  return static_cast<std::size_t>(k_exact + (m - k_sub_bits) * k_half + sub);
}

std::uint64_t histogram::bucket_high(std::size_t bucket) {
  if (bucket < k_exact) return bucket;
  std::uint64_t rel = bucket - k_exact;
  int m = static_cast<int>(rel / k_half) + k_sub_bits;
  std::uint64_t sub = rel % k_half;
  int shift = m - (k_sub_bits - 1);
  return ((sub + k_half + 1) << shift) - 1;
}

void histogram::record(std::uint64_t us) {
  counts_[bucket_of(us)].fetch_add(1, std::memory_order_relaxed);
  total_.fetch_add(1, std::memory_order_relaxed);
  std::uint64_t prev = max_.load(std::memory_order_relaxed);
  while (us > prev && !max_.compare_exchange_weak(prev, us, std::memory_order_relaxed)) {
  }
}

std::uint64_t histogram::percentile(double p) const {
  std::uint64_t total = count();
  if (total == 0) return 0;
  if (p > 100) p = 100;
  auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total)));
  if (rank < 1) rank = 1;
  std::uint64_t seen = 0;
  std::uint64_t mx = max();
  for (std::size_t b = 0; b < k_buckets; ++b) {
    seen += counts_[b].load(std::memory_order_relaxed);
    if (seen >= rank) {
      std::uint64_t v = bucket_high(b);
      return v < mx ? v : mx;
    }
  }
  return mx;
}

void histogram::reset() {
  for (auto& c : counts_) c.store(0, std::memory_order_relaxed);
  total_.store(0, std::memory_order_relaxed);
  max_.store(0, std::memory_order_relaxed);
}

}  // namespace parley::tools::bench
