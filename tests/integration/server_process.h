#pragma once
// A real `parleyd` child process for integration tests (protocol.md is the only contract
// the tests rely on). Each instance owns a fresh temporary directory holding the SQLite
// database and the server's stderr log, so tests run in parallel without sharing state;
// restart() reuses the same database to test durability.
//
// Launch contract relied upon: `$PARLEY_BIN_DIR/parleyd --listen 127.0.0.1:0 --db sqlite:PATH
// --jwt-secret S --node-id n1 [flags...]` prints exactly one stdout line
// `parleyd listening on 127.0.0.1:PORT` once bound; SIGTERM drains and exits 0; a bad flag
// exits 2.
//
// Threads: one test thread drives an instance. The destructor always kills the process.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace parley::itest {

class server_process {
 public:
  // `flags` are appended after the fixed arguments above; "{dir}" in a flag stands for the
  // instance's temporary directory (for files a test writes there before start()).
  explicit server_process(std::vector<std::string> flags, std::string secret = "itest-secret");
  ~server_process();
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  // Spawns parleyd and waits for its port line. False if it exited or did not print the
  // line in time; error() says why (the process is then killed if still running).
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // start() again after the previous process exited (or kills it first): same flags,
  // same database, a new port.
  bool restart(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Sends `sig` to the running process (no-op once it exited).
  void signal(int sig);
  void terminate();  // SIGTERM
  void kill();       // SIGKILL
  // Waits for the process to exit; its status is the exit code, or 128 + signal number.
  // nullopt on timeout (the process keeps running).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return proc_.running(); }
  std::optional<int> exit_status() const { return proc_.exit_status(); }

  int port() const { return port_; }
  std::string http_base() const;  // http://127.0.0.1:PORT
  std::string ws_base() const;    // ws://127.0.0.1:PORT
  const std::string& secret() const { return secret_; }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  // The server's stderr so far (all runs).
  std::string log() const;
  // Keeps the temporary directory after destruction (for post-mortem of a failed test).
  void keep_dir() { keep_dir_ = true; }

 private:
  bool read_port_line(std::chrono::milliseconds timeout);

  std::vector<std::string> flags_;
  std::string secret_;
  std::string dir_;
  std::string log_path_;
  testsupport::child_process proc_;
  int port_ = 0;
  std::string error_;
  bool keep_dir_ = false;
};

}  // namespace parley::itest
