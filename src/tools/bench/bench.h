#pragma once
// `parley bench`: a load generator speaking only the public protocol (docs/protocol.md).
// See options.h for the command line, scenarios.h for what each scenario does, stats.h for
// what is measured and report.h for the output. Exit status: 0 the run completed and
// every delivery was correct, 1 a correctness failure or no connection could be set up
// (or a system limit stops it), 2 bad usage.
#include "tools/commands.h"

namespace parley::tools {

command add_bench_command(CLI::App& app);

}  // namespace parley::tools
