#pragma once
// The end of a run: the human summary table (stdout) and the --json document. Both read a
// finished run (no connection still running), so every figure is final.
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "tools/bench/options.h"
#include "tools/bench/scenarios.h"
#include "tools/bench/stats.h"

namespace parley::tools::bench {

struct run_result {
  const options* opts = nullptr;
  const run_plan* plan = nullptr;
  const stats* st = nullptr;
  double measured_s = 0;                      // length of the measure window
  std::optional<std::int64_t> rss_before_kb;  // --server-pid: VmRSS before connecting
  std::optional<std::int64_t> rss_after_kb;   // ... with every connection up
  // CPU time (user + system) over the measure window, and that window's wall-clock length.
  struct cpu_time {
    double seconds = 0;
    double wall_s = 0;
    double cores() const { return wall_s > 0 ? seconds / wall_s : 0.0; }
  };
  std::optional<cpu_time> server_cpu;  // --server-pid
  // The generator's own: near one core per thread, it is what limits the run, not the server.
  std::optional<cpu_time> bench_cpu;
  std::uint64_t correctness_failures() const;
};

void print_summary(std::ostream& out, const run_result& r);
// Writes the JSON document to `path`; false (with `*why`) if the file cannot be written.
bool write_json(const std::string& path, const run_result& r, std::string* why);

}  // namespace parley::tools::bench
