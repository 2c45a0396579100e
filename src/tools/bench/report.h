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
  std::optional<double> server_cpu_s;         // --server-pid: its CPU time in the measure window
  double server_cpu_wall_s = 0;               // ... over this much wall-clock time
  // The generator's own CPU time in the measure window: near one core per thread, it is
  // what limits the run, not the server.
  std::optional<double> bench_cpu_s;
  double bench_cpu_wall_s = 0;
  std::uint64_t correctness_failures() const;
};

void print_summary(std::ostream& out, const run_result& r);
// Writes the JSON document to `path`; false (with `*why`) if the file cannot be written.
bool write_json(const std::string& path, const run_result& r, std::string* why);

}  // namespace parley::tools::bench
