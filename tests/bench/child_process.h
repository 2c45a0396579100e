#pragma once
// A child process for the bench tests (the small part of tests/integration/server_process
// these tests need): spawn with stdout on a pipe, read its first line, wait with a timeout.
// The destructor kills a child still running. One test thread per instance.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace parley::benchtest {

class child_process {
 public:
  child_process() = default;
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Spawns argv[0] with `args` (PARLEY_* variables removed from the environment); stderr
  // goes to `stderr_path`. False if it could not be spawned.
  bool spawn(const std::vector<std::string>& args, const std::string& stderr_path);
  // The first stdout line (without '\n'); nullopt on timeout or EOF.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Everything on stdout until EOF or timeout.
  std::string read_all(std::chrono::milliseconds timeout);
  // The exit status (128 + signal when killed); nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  std::string buf_;
};

// $PARLEY_BIN_DIR/name.
std::string bin(const std::string& name);
// A fresh temporary directory.
std::string temp_dir();

}  // namespace parley::benchtest
