#include "bus/kafka_broker.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace parley::test {
namespace {

const std::string k_script = std::string(PARLEY_SOURCE_DIR) + "/scripts/kafka";

// Runs a shell command, returning its exit status and combined output.
int run(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

}  // namespace

kafka_broker::kafka_broker() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "parley-bus-test-XXXXXX").string();
  if (::mkdtemp(tmpl.data())) dir_ = tmpl;
}

kafka_broker::~kafka_broker() {
  stop();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool kafka_broker::start(std::string& why) {
  if (dir_.empty()) {
    why = "mkdtemp failed";
    return false;
  }
  std::string out;
  int rc = run(k_script + " start --port " + std::to_string(port_) + " --dir " + dir_, out);
  running_ = true;  // even a failed start may have left a process: stop() checks
  if (rc != 0) {
    why = "scripts/kafka start failed (" + std::to_string(rc) + "):\n" + out;
    return false;
  }
  std::ifstream f(dir_ + "/port");
  f >> port_;
  if (port_ <= 0) {
    why = "no port in " + dir_ + "/port";
    return false;
  }
  bootstrap_ = "127.0.0.1:" + std::to_string(port_);
  return true;
}

void kafka_broker::stop() {
  if (!running_ || dir_.empty()) return;
  std::string out;
  run(k_script + " stop --dir " + dir_, out);
  running_ = false;
}

}  // namespace parley::test
