#include "support/child_process.h"

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
#include <utility>

extern char** environ;

namespace parley::testsupport {
namespace {

using clock_type = std::chrono::steady_clock;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::chrono::milliseconds left_until(clock_type::time_point deadline) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_type::now());
}

}  // namespace

child_process::~child_process() {
  kill_and_reap();
  close_stdout();
}

void child_process::close_stdout() {
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
}

bool child_process::spawn(const std::vector<std::string>& args, const std::string& stderr_path,
                          bool die_with_parent) {
  error_.clear();
  exit_status_.reset();
  eof_ = false;
  buf_.clear();
  close_stdout();
  if (args.empty()) {
    error_ = "nothing to run";
    return false;
  }
  // Everything the child needs is built before fork: after it, only async-signal-safe calls.
  std::vector<std::string> a = args;
  std::vector<char*> argv;
  for (auto& s : a) argv.push_back(s.data());
  argv.push_back(nullptr);
  std::vector<std::string> env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::strncmp(*e, "PARLEY_", 7) != 0) env.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    error_ = std::string("pipe: ") + std::strerror(errno);
    return false;
  }
  int log_fd = ::open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) {
    error_ = "open " + stderr_path + ": " + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    return false;
  }
  const pid_t parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0) {
    error_ = std::string("fork: ") + std::strerror(errno);
    ::close(out[0]);
    ::close(out[1]);
    ::close(log_fd);
    return false;
  }
  if (pid == 0) {  // the child: async-signal-safe calls only
    if (die_with_parent) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
    }
    int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out[1], 1) < 0 || ::dup2(log_fd, 2) < 0)
      ::_exit(127);
    // Sockets of concurrently running clients must not leak into the child.
    ::closefrom(3);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(log_fd);
  pid_ = pid;
  stdout_fd_ = out[0];
  return true;
}

std::optional<std::string> child_process::read_line(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (auto nl = buf_.find('\n'); nl != std::string::npos) {
      std::string line = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      return line;
    }
    if (eof_ || stdout_fd_ < 0) return std::nullopt;
    auto left = left_until(deadline);
    if (left.count() <= 0) return std::nullopt;
    pollfd p{stdout_fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n <= 0) continue;  // EINTR or timeout: the loop decides
    char chunk[4096];
    ssize_t r = ::read(stdout_fd_, chunk, sizeof chunk);
    if (r > 0) {
      buf_.append(chunk, static_cast<std::size_t>(r));
    } else if (r == 0 || errno != EINTR) {
      eof_ = true;
    }
  }
}

std::string child_process::read_all(std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  while (!eof_ && stdout_fd_ >= 0) {
    auto left = left_until(deadline);
    if (left.count() <= 0) break;
    pollfd p{stdout_fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char chunk[4096];
    ssize_t r = ::read(stdout_fd_, chunk, sizeof chunk);
    if (r > 0)
      buf_.append(chunk, static_cast<std::size_t>(r));
    else if (r == 0 || errno != EINTR)
      eof_ = true;
  }
  return std::exchange(buf_, {});
}

void child_process::signal(int sig) {
  if (pid_ > 0) ::kill(pid_, sig);
}

void child_process::kill_and_reap() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  exit_status_ = decode_status(status);
  pid_ = -1;
}

std::optional<int> child_process::wait_exit(std::chrono::milliseconds timeout) {
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

std::string bin_path(const std::string& name) {
  const char* dir = std::getenv("PARLEY_BIN_DIR");
  return std::string(dir != nullptr && *dir != '\0' ? dir : ".") + "/" + name;
}

std::string make_temp_dir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

std::optional<int> await_listening(child_process& p, std::chrono::milliseconds timeout,
                                   std::string& why) {
  static constexpr std::string_view k_prefix = "parleyd listening on 127.0.0.1:";
  auto line = p.read_line(timeout);
  if (line) {
    int port = line->rfind(k_prefix, 0) == 0 ? std::atoi(line->c_str() + k_prefix.size()) : 0;
    if (port > 0 && port <= 65535) return port;
    why = "unexpected stdout line: '" + *line + "'";
    return std::nullopt;
  }
  if (!p.eof()) {
    why = "no port line within " + std::to_string(timeout.count()) + " ms";
    return std::nullopt;
  }
  // End of stream: the process closed stdout, almost certainly by exiting.
  if (auto st = p.wait_exit(std::chrono::seconds(5)))
    why = "parleyd exited with status " + std::to_string(*st) + " before listening";
  else
    why = "parleyd closed stdout before listening";
  return std::nullopt;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace parley::testsupport
