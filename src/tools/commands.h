#pragma once
// The subcommands of the `parley` tool. Each add_*_command() registers a CLI11
// subcommand (with its options and --help text) on `app` and returns the function that
// runs it once the command line has been parsed. A run function returns the process exit
// status: 0 success, 1 failure (network, refusal, server error), 2 bad usage. It never
// throws and prints its diagnostics on stderr as one line each.
#include <functional>

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

}  // namespace parley::tools
