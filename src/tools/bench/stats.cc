#include "tools/bench/stats.h"

namespace parley::tools::bench {

namespace {
const bench_clock::time_point k_epoch = bench_clock::now();
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(bench_clock::now() - k_epoch)
      .count();
}

bench_clock::time_point at_us(std::int64_t us) { return k_epoch + std::chrono::microseconds(us); }

void stats::add_error(const std::string& code) {
  errors_total.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(mu_);
  ++errors_[code];
}

std::map<std::string, std::uint64_t> stats::errors() const {
  std::lock_guard lock(mu_);
  return errors_;
}

}  // namespace parley::tools::bench
