#pragma once
// One `parleyd` node of a test cluster: a child process started with a PostgreSQL store and
// the Kafka bus (cluster mode), on tests/support/child_process like
// tests/integration/server_process (which always uses SQLite and node id n1).
//
// Launch contract relied upon: `$PARLEY_BIN_DIR/parleyd --listen 127.0.0.1:0 --db URL
// --jwt-secret S --node-id ID --kafka BROKERS --kafka-topic T --kafka-partitions N [flags...]`
// prints `parleyd listening on 127.0.0.1:PORT` once its Kafka consumer is positioned.
//
// Threads: await_ready() may run on a thread of its own (the cluster tests start nodes at
// once); everything else from the test's main thread. The destructor always kills the
// process, and the process gets SIGKILL when the test process dies.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "support/child_process.h"

namespace parley::ctest {

struct node_options {
  std::string node_id;
  std::string db;     // postgresql://...
  std::string kafka;  // host:port
  std::string topic;
  int partitions = 4;
  std::string secret = "cluster-secret";
  std::vector<std::string> extra;  // appended flags
};

class node_process {
 public:
  explicit node_process(node_options o);
  ~node_process();
  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  // Spawns parleyd and waits for its port line. False if it exited or did not print the
  // line in time; error() says why (the process is then killed). Call from the test's main
  // thread (see launch()).
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // start() in two halves: launch() forks the process and must run on the test's main
  // thread (the child dies with the thread that forked it); await_ready() may run on any.
  bool launch();
  bool await_ready(std::chrono::milliseconds timeout);
  // start() again (kills a running process first): same flags, a new port.
  bool restart(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  void signal(int sig);
  void kill();  // SIGKILL, then reaps
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running() const { return proc_.running(); }
  // True while the process has not exited (reaps it if it has).
  bool alive();

  int port() const { return port_; }
  std::string http_base() const;
  std::string ws_base() const;
  const node_options& options() const { return opts_; }
  const std::string& id() const { return opts_.node_id; }
  const std::string& dir() const { return dir_; }
  const std::string& error() const { return error_; }
  std::string log() const;
  void keep_dir() { keep_dir_ = true; }

 private:
  node_options opts_;
  std::string dir_;
  std::string log_path_;
  testsupport::child_process proc_;
  int port_ = 0;
  std::string error_;
  bool keep_dir_ = false;
};

}  // namespace parley::ctest
