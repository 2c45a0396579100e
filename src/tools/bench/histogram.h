#pragma once
// A latency histogram in the HdrHistogram style: log-linear buckets over microseconds.
// Values 0 .. 2^k_sub_bits - 1 are exact; above that each power-of-two range is split into
// 2^(k_sub_bits - 1) equal buckets, so a recorded value is known to within 1/64 (1.6 %).
// Values above k_max_us (about 19 hours) are clamped to it; max() stays exact.
//
// Threads: record() may be called from any number of threads at once (relaxed atomics);
// the readers (count, percentile, max, merge_into) may run concurrently with recording and
// then see some consistent-enough snapshot (a progress line), or after recording stopped
// and see exact figures.
#include <array>
#include <atomic>
#include <cstdint>

namespace parley::tools::bench {

class histogram {
 public:
  static constexpr int k_sub_bits = 7;  // 128 exact values, then 64 buckets per octave
  static constexpr int k_octaves = 36;  // values up to 2^36 us
  static constexpr std::uint64_t k_max_us = (std::uint64_t{1} << 36) - 1;
  static constexpr std::size_t k_buckets =
      (std::size_t{1} << k_sub_bits) + (k_octaves - k_sub_bits) * (1u << (k_sub_bits - 1));

  void record(std::uint64_t us);
  std::uint64_t count() const { return total_.load(std::memory_order_relaxed); }
  std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  // The value at percentile `p` (0 < p <= 100): the highest value equivalent to the bucket
  // holding the ceil(p/100 * count)-th smallest recording, never above max(). 0 when empty.
  std::uint64_t percentile(double p) const;
  void reset();

  // The bucket of a value and the highest value a bucket stands for (exposed for tests).
  static std::size_t bucket_of(std::uint64_t us);
  static std::uint64_t bucket_high(std::size_t bucket);

 private:
  std::array<std::atomic<std::uint64_t>, k_buckets> counts_{};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<std::uint64_t> max_{0};
};

}  // namespace parley::tools::bench
