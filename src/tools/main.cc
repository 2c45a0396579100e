// parley: command-line client for parleyd. Subcommands live in cmd_*.cc (see commands.h).
// Exit status: 0 success, 1 failure, 2 bad usage (one line on stderr).
#include <CLI/CLI.hpp>
#include <exception>
#include <iostream>
#include <vector>

#include "tools/bench/bench.h"
#include "tools/commands.h"
#include "tools/common.h"

int main(int argc, char** argv) {
  using namespace parley::tools;
  try {
    CLI::App app{"parley: command-line client for the parley chat server", "parley"};
    app.require_subcommand(1);
    std::vector<command> commands{add_token_command(app), add_send_command(app),
                                  add_tail_command(app), add_bench_command(app)};
    try {
      app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
      return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
      return app.exit(e);
    } catch (const CLI::ParseError& e) {
      // "A subcommand is required" hides a misspelt command: name it instead.
      if (argc > 1 && argv[1][0] != '-' && app.get_subcommands().empty()) {
        std::cerr << "parley: unknown command '" << argv[1]
                  << "' (commands: token, send, tail, bench; see parley --help)\n";
        return k_exit_usage;
      }
      std::cerr << "parley: " << e.what() << " (see parley --help)\n";
      return k_exit_usage;
    }
    for (const auto& c : commands) {
      if (c.app->parsed()) return c.run();
    }
    return k_exit_usage;  // unreachable: require_subcommand(1)
  } catch (const std::exception& e) {
    std::cerr << "parley: " << e.what() << "\n";
    return k_exit_failure;
  }
}
