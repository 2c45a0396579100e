#pragma once
// `parley bench` configuration: the command line (registered by add_bench_options) and its
// validation. Pure data plus checks, no I/O (no name resolution either): targets must be
// IPv4 literals in 127.0.0.0/8 or "localhost".
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace parley::tools::bench {

enum class scenario { dm, group, fanout, idle, connect };
const char* scenario_name(scenario s);

struct endpoint {
  std::string host;  // an IPv4 literal in 127.0.0.0/8
  std::uint16_t port = 0;
};

struct options {
  std::vector<std::string> urls;  // --url, comma-separated or repeated
  std::string secret;
  std::string scenario_text;
  int connections = 0;  // 0: the scenario's default
  int rooms = 0;        // 0: derived from connections and members
  int members = 0;      // 0: the scenario's default
  int senders = 1;      // fanout: senders per room
  double rate = 0;      // messages/s offered over all senders (open loop)
  bool max = false;     // closed loop: each sender keeps `window` sends in flight
  int window = 4;
  double warmup = 1;
  double duration = 5;
  int size = 32;         // message text bytes
  int threads = 0;       // I/O threads; 0: min(4, cores)
  int source_addrs = 1;  // spread connections over 127.0.0.1 .. 127.0.0.N
  int connect_concurrency = 256;
  std::int64_t server_pid = 0;
  std::string json_file;
  bool progress = true;  // --no-progress turns the live line off

  // Derived by validate().
  scenario kind = scenario::dm;
  std::vector<endpoint> endpoints;
};

void add_bench_options(CLI::App& cmd, options& o);
// Checks and completes `o` (defaults, endpoints). Returns the usage error, or nullopt.
std::optional<std::string> validate(options& o);

}  // namespace parley::tools::bench
