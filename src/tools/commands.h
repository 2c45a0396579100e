#pragma once
// The subcommands of the `parley` tool. Each add_*_command() registers a CLI11
// subcommand (with its options and --help text) on `app` and returns the function that
// runs it once the command line has been parsed. A run function returns the process exit
// status: 0 success, 1 failure (network, refusal, server error), 2 bad usage. It never
// throws and prints its diagnostics on stderr as one line each.
#include <functional>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace parley::tools {

struct command {
  CLI::App* app = nullptr;   // the subcommand; app->parsed() says it was chosen
  std::function<int()> run;  // runs it; valid while `app` lives
};

command add_token_command(CLI::App& app);
command add_send_command(CLI::App& app);
command add_tail_command(CLI::App& app);

// `parley tail --kafka` (cmd_tail_kafka.cc): read the bus topic as a consumer group of its
// own instead of a server's WebSocket. add_kafka_tail_options() adds --kafka, --group,
// --topic, --from-beginning, --from-end and --kafka-option to the tail subcommand;
// run_tail_kafka() runs until SIGINT/SIGTERM (0), a fatal Kafka error (1) or bad usage (2).
struct kafka_tail_options {
  std::string brokers;  // --kafka; empty: tail a server over WebSocket
  std::string group;    // empty: parley-tail-<random>
  std::string topic = "parley.messages";
  bool from_beginning = false;
  bool from_end = false;
  std::vector<std::string> options;  // KEY=VALUE librdkafka properties
};
void add_kafka_tail_options(CLI::App& cmd, kafka_tail_options& opts);
int run_tail_kafka(const kafka_tail_options& opts);

}  // namespace parley::tools
