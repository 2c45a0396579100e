#pragma once
// A child process for the tests that run real programs (parleyd, parley, parley-baseline):
// stdin from /dev/null, stdout on a pipe the test reads line by line, stderr appended to a
// file, the environment without PARLEY_* (parleyd reads those as configuration), no other
// descriptor inherited. The one helper behind tests/integration/server_process,
// tests/cluster/node_process and the bench tests.
//
// Threads: one test thread drives an instance. With `die_with_parent` the child gets
// SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG), so a test killed by the
// ctest timeout leaves no process behind: spawn such children from the test's main thread.
// The destructor kills a child that is still running.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace parley::testsupport {

class child_process {
 public:
  child_process() = default;
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Spawns args[0] with `args`; stderr is appended to `stderr_path`. False with error()
  // set if it could not be spawned. A previous child must have exited (or been killed).
  bool spawn(const std::vector<std::string>& args, const std::string& stderr_path,
             bool die_with_parent = false);
  // The next stdout line (without '\n'); nullopt on timeout or end of stream (eof()).
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  // Everything on stdout until end of stream or timeout.
  std::string read_all(std::chrono::milliseconds timeout);
  bool eof() const { return eof_; }

  // Sends `sig` (no-op once the child exited).
  void signal(int sig);
  // SIGKILL, then waits for the child. No-op once it exited.
  void kill_and_reap();
  // The exit status (128 + signal number when killed); nullopt on timeout (still running).
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return pid_ > 0; }
  std::optional<int> exit_status() const { return exit_status_; }
  pid_t pid() const { return pid_; }
  const std::string& error() const { return error_; }

 private:
  void close_stdout();

  pid_t pid_ = -1;
  int stdout_fd_ = -1;
  bool eof_ = false;
  std::string buf_;
  std::optional<int> exit_status_;
  std::string error_;
};

// $PARLEY_BIN_DIR/name (the current directory when unset).
std::string bin_path(const std::string& name);
// A fresh directory under the system's temporary directory, named `prefix`-XXXXXX; empty
// on failure.
std::string make_temp_dir(const std::string& prefix);
// Waits for parleyd's first stdout line, "parleyd listening on 127.0.0.1:PORT", and
// returns PORT; nullopt with `why` set when the line is another, does not come in time, or
// the process exits first (then its status is known to `p`).
std::optional<int> await_listening(child_process& p, std::chrono::milliseconds timeout,
                                   std::string& why);
// The whole content of a file ("" when unreadable): a child's stderr log.
std::string read_file(const std::string& path);

}  // namespace parley::testsupport
