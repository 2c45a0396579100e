#include "node_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace parley::ctest {
namespace {

using clock_type = std::chrono::steady_clock;

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "parley-ctest-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

std::string bin_path() {
  const char* dir = std::getenv("PARLEY_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : ".") + "/parleyd";
}

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

// Ours minus PARLEY_* (parleyd reads PARLEY_* as configuration).
std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PARLEY_", 7) != 0) env.emplace_back(*e);
  }
  return env;
}

}  // namespace

node_process::node_process(node_options o) : opts_(std::move(o)), dir_(make_temp_dir()) {
  log_path_ = dir_ + "/parleyd.stderr.log";
}

node_process::~node_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
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
  exit_status_.reset();
  if (dir_.empty()) {
    error_ = "cannot create a temporary directory";
    return false;
  }
  return spawn();
}

bool node_process::await_ready(std::chrono::milliseconds timeout) {
  if (read_port_line(timeout)) return true;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  return false;
}

bool node_process::restart(std::chrono::milliseconds timeout) {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  if (std::ofstream log(log_path_, std::ios::app); log) log << "\n==== ctest: restart ====\n";
  return start(timeout);
}

bool node_process::spawn() {
  std::vector<std::string> args = {bin_path(),
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
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = child_env();
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    error_ = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    error_ = "open " + log_path_ + ": " + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    return false;
  }
  // fork + exec rather than posix_spawn: the child asks for SIGKILL when the test process
  // dies (PR_SET_PDEATHSIG), so a test killed by the ctest timeout leaves no node behind.
  // The signal fires when the forking *thread* exits, so nodes are forked from the test's
  // main thread only (start_all waits for the port lines on other threads).
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    ::close(log_fd);
    return false;
  }
  if (pid == 0) {  // child: async-signal-safe calls only
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(log_fd, 2) < 0)
      ::_exit(127);
    ::closefrom(3);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(log_fd);
  pid_ = pid;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = out[0];
  return true;
}

bool node_process::read_port_line(std::chrono::milliseconds timeout) {
  static constexpr std::string_view k_prefix = "parleyd listening on 127.0.0.1:";
  const auto deadline = clock_type::now() + timeout;
  std::string buf;
  for (;;) {
    if (auto nl = buf.find('\n'); nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      if (line.rfind(k_prefix, 0) != 0) {
        error_ = "unexpected stdout line: '" + line + "'";
        return false;
      }
      port_ = std::atoi(line.c_str() + k_prefix.size());
      if (port_ <= 0 || port_ > 65535) {
        error_ = "bad port in stdout line: '" + line + "'";
        return false;
      }
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
    if (left.count() <= 0) {
      error_ = "no port line within " + std::to_string(timeout.count()) + " ms";
      return false;
    }
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    char chunk[512];
    ssize_t r = ::read(stdout_fd_, chunk, sizeof chunk);
    if (r > 0) {
      buf.append(chunk, static_cast<std::size_t>(r));
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (auto st = wait_exit(std::chrono::seconds(5))) {
      error_ = "parleyd exited with status " + std::to_string(*st) + " before listening";
    } else {
      error_ = "parleyd closed stdout before listening";
    }
    return false;
  }
}

void node_process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void node_process::kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
}

bool node_process::alive() {
  if (pid_ <= 0) return false;
  wait_exit(std::chrono::milliseconds(0));
  return pid_ > 0;
}

std::optional<int> node_process::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return exit_status_;
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = decode_status(status);
      pid_ = -1;
      return exit_status_;
    }
    if (r < 0 && errno != EINTR) {
      pid_ = -1;
      return std::nullopt;
    }
    if (clock_type::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void node_process::reap_blocking() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decode_status(status);
  pid_ = -1;
}

std::string node_process::log() const {
  std::ifstream in(log_path_);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace parley::ctest
