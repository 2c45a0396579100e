#include "node_process.h"

#include <signal.h>

#include <filesystem>
#include <fstream>

namespace parley::ctest {

node_process::node_process(node_options o)
    : opts_(std::move(o)), dir_(testsupport::make_temp_dir("parley-ctest")) {
  log_path_ = dir_ + "/parleyd.stderr.log";
}

node_process::~node_process() {
  proc_.kill_and_reap();
  if (!keep_dir_ && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string node_process::http_base() const { return "http://127.0.0.1:" + std::to_string(port_); }

std::string node_process::ws_base() const { return "ws://127.0.0.1:" + std::to_string(port_); }

bool node_process::start(std::chrono::milliseconds timeout) {
  return launch() && await_ready(timeout);
}

bool node_process::launch() {
  error_.clear();
  port_ = 0;
  if (dir_.empty()) {
    error_ = "cannot create a temporary directory";
    return false;
  }
  std::vector<std::string> args = {testsupport::bin_path("parleyd"),
                                   "--listen",
                                   "127.0.0.1:0",
                                   "--db",
                                   opts_.db,
                                   "--jwt-secret",
                                   opts_.secret,
                                   "--node-id",
                                   opts_.node_id,
                                   "--kafka",
                                   opts_.kafka,
                                   "--kafka-topic",
                                   opts_.topic,
                                   "--kafka-partitions",
                                   std::to_string(opts_.partitions)};
  for (const auto& f : opts_.extra) args.push_back(f);
  // The node gets SIGKILL when the test process dies (a test killed by the ctest timeout
  // leaves no node behind). The signal fires when the forking *thread* exits, so nodes are
  // launched from the test's main thread only (start_all waits for the port lines on
  // other threads).
  if (proc_.spawn(args, log_path_, /*die_with_parent=*/true)) return true;
  error_ = proc_.error();
  return false;
}

bool node_process::await_ready(std::chrono::milliseconds timeout) {
  if (auto port = testsupport::await_listening(proc_, timeout, error_)) {
    port_ = *port;
    return true;
  }
  proc_.kill_and_reap();
  return false;
}

bool node_process::restart(std::chrono::milliseconds timeout) {
  proc_.kill_and_reap();
  if (std::ofstream log(log_path_, std::ios::app); log) log << "\n==== ctest: restart ====\n";
  return start(timeout);
}

void node_process::signal(int sig) { proc_.signal(sig); }

void node_process::kill() { proc_.kill_and_reap(); }

bool node_process::alive() {
  if (!proc_.running()) return false;
  proc_.wait_exit(std::chrono::milliseconds(0));
  return proc_.running();
}

std::optional<int> node_process::wait_exit(std::chrono::milliseconds timeout) {
  return proc_.wait_exit(timeout);
}

std::string node_process::log() const { return testsupport::read_file(log_path_); }

}  // namespace parley::ctest
