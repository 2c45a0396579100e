#include "server_process.h"

#include <signal.h>

#include <filesystem>
#include <fstream>

namespace parley::itest {

server_process::server_process(std::vector<std::string> flags, std::string secret)
    : flags_(std::move(flags)),
      secret_(std::move(secret)),
      dir_(testsupport::make_temp_dir("parley-itest")) {
  log_path_ = dir_ + "/parleyd.stderr.log";
}

server_process::~server_process() {
  proc_.kill_and_reap();
  if (!keep_dir_ && !dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string server_process::http_base() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string server_process::ws_base() const { return "ws://127.0.0.1:" + std::to_string(port_); }

bool server_process::start(std::chrono::milliseconds timeout) {
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
                                   "sqlite:" + dir_ + "/parley.db",
                                   "--jwt-secret",
                                   secret_,
                                   "--node-id",
                                   "n1"};
  for (std::string f : flags_) {
    for (auto pos = f.find("{dir}"); pos != std::string::npos; pos = f.find("{dir}")) {
      f.replace(pos, 5, dir_);
    }
    args.push_back(std::move(f));
  }
  if (!proc_.spawn(args, log_path_)) {
    error_ = proc_.error();
    return false;
  }
  if (read_port_line(timeout)) return true;
  proc_.kill_and_reap();
  return false;
}

bool server_process::restart(std::chrono::milliseconds timeout) {
  proc_.kill_and_reap();
  if (std::ofstream log(log_path_, std::ios::app); log) log << "\n==== itest: restart ====\n";
  return start(timeout);
}

bool server_process::read_port_line(std::chrono::milliseconds timeout) {
  auto port = testsupport::await_listening(proc_, timeout, error_);
  if (!port) return false;
  port_ = *port;
  return true;
}

void server_process::signal(int sig) { proc_.signal(sig); }

void server_process::terminate() { signal(SIGTERM); }

void server_process::kill() { signal(SIGKILL); }

std::optional<int> server_process::wait_exit(std::chrono::milliseconds timeout) {
  return proc_.wait_exit(timeout);
}

std::string server_process::log() const { return testsupport::read_file(log_path_); }

}  // namespace parley::itest
