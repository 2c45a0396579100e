#include "server_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

namespace parley::itest {
namespace {

using clock_type = std::chrono::steady_clock;

std::string make_temp_dir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "parley-itest-XXXXXX").string();
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

// The child's environment: ours minus PARLEY_* (PARLEY_BIN_DIR and friends would otherwise be
// read as configuration by parleyd; see config.h).
std::vector<std::string> child_env() {
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    if (std::strncmp(*e, "PARLEY_", 7) != 0) env.emplace_back(*e);
  }
  return env;
}

}  // namespace

server_process::server_process(std::vector<std::string> flags, std::string secret)
    : flags_(std::move(flags)), secret_(std::move(secret)), dir_(make_temp_dir()) {
  log_path_ = dir_ + "/parleyd.stderr.log";
}

server_process::~server_process() {
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

std::string server_process::http_base() const {
  return "http://127.0.0.1:" + std::to_string(port_);
}

std::string server_process::ws_base() const { return "ws://127.0.0.1:" + std::to_string(port_); }

bool server_process::start(std::chrono::milliseconds timeout) {
  error_.clear();
  port_ = 0;
  exit_status_.reset();
  if (dir_.empty()) {
    error_ = "cannot create a temporary directory";
    return false;
  }
  if (!spawn()) return false;
  if (read_port_line(timeout)) return true;
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  return false;
}

bool server_process::restart(std::chrono::milliseconds timeout) {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    reap_blocking();
  }
  if (std::ofstream log(log_path_, std::ios::app); log) log << "\n==== itest: restart ====\n";
  return start(timeout);
}

bool server_process::spawn() {
  std::vector<std::string> args = {
      bin_path(),     "--listen", "127.0.0.1:0", "--db", "sqlite:" + dir_ + "/parley.db",
      "--jwt-secret", secret_,    "--node-id",   "n1"};
  for (std::string f : flags_) {
    for (auto pos = f.find("{dir}"); pos != std::string::npos; pos = f.find("{dir}")) {
      f.replace(pos, 5, dir_);
    }
    args.push_back(std::move(f));
  }
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
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
  // Sockets of concurrently running clients must not leak into the server.
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  pid_t pid = -1;
  int rc = ::posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(log_fd);
  if (rc != 0) {
    ::close(out[0]);
    error_ = "posix_spawn " + args[0] + ": " + std::strerror(rc);
    return false;
  }
  pid_ = pid;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = out[0];
  return true;
}

bool server_process::read_port_line(std::chrono::milliseconds timeout) {
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
      error_ = "no port line within " + std::to_string(timeout.count()) + " ms (stdout so far: '" +
               buf + "')";
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
    // EOF: the process closed stdout, almost certainly by exiting.
    if (auto st = wait_exit(std::chrono::seconds(5))) {
      error_ = "parleyd exited with status " + std::to_string(*st) + " before listening";
    } else {
      error_ = "parleyd closed stdout before listening";
    }
    return false;
  }
}

void server_process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void server_process::terminate() { signal(SIGTERM); }

void server_process::kill() { signal(SIGKILL); }

std::optional<int> server_process::wait_exit(std::chrono::milliseconds timeout) {
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

void server_process::reap_blocking() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decode_status(status);
  pid_ = -1;
}

std::string server_process::log() const {
  std::ifstream in(log_path_);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace parley::itest
