#pragma once
// parleyd's configuration: defaults < TOML file (--config) < environment (PARLEY_<NAME>)
// < command-line flags. load() validates everything; a bad flag, unreadable file or
// invalid value is a config_error whose message names what and where, and parleyd exits
// with status 2 printing that one line. Start-up only (may throw config_error).
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace parley::config {

struct config {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8080;                // 0: pick a free port
  std::string db = "sqlite:./data/parley.db";      // sqlite:PATH | postgresql://...
  std::optional<std::string> jwt_secret;           // HS256
  std::optional<std::string> jwt_public_key_file;  // PEM (RS256 / ES256)
  std::optional<std::string> jwt_public_key_pem;   // contents, read by load()
  std::optional<std::string> jwt_issuer;
  std::optional<std::string> jwt_audience;
  std::int64_t jwt_skew_ms = 30'000;
  std::string node_id;       // default: "<hostname>:<port>" (filled by parleyd once bound)
  int threads = 0;           // 0: number of cores
  bool no_io_uring = false;  // one send() per socket write instead of a batch (send_batch.h)
  bool dev = false;
  std::string web_root;  // directory of the web page; empty: compiled-in default
  // limits
  std::size_t max_frame_bytes = 64 * 1024;
  std::size_t max_text_bytes = 16 * 1024;
  double send_rate = 50;                           // messages/s per user per node (burst 2x)
  double frame_rate = 100;                         // other frames/s per user per node
  std::size_t send_queue_bytes = 4 * 1024 * 1024;  // per connection
  std::size_t send_queue_messages = 8192;          // per connection
  int replay_max = 1000;
  int max_room_members = 10000;
  int ping_interval_s = 30;
  int idle_timeout_s = 75;
  int gap_wait_ms = 50;
  int store_readers = 4;
  // Store calls (joins, history, reads, the HTTP API) waiting for a store thread; past it a
  // call is answered `unavailable` (HTTP 503) at once.
  std::size_t store_queue = 4096;
  // Group commit: one transaction per interval at most; unset: the store's default.
  std::optional<int> commit_interval_us;
  std::string log_level = "info";
  // cluster mode (docs/cluster.md)
  std::vector<std::string> kafka_brokers;
  std::string kafka_topic = "parley.messages";
  int kafka_partitions = 12;
  int kafka_replication = 1;
  std::vector<std::string> kafka_options;  // key=value pass-through
};

struct config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses argv (and the file / environment they point to). `--help` prints usage to
// stdout and returns std::nullopt (caller exits 0). Throws config_error.
// `env` is consulted through getenv-like lookups of PARLEY_<NAME> (NAME: flag name
// upper-cased, '-' -> '_', e.g. PARLEY_JWT_SECRET, PARLEY_MAX_TEXT_BYTES).
std::optional<config> load(int argc, const char* const* argv);

}  // namespace parley::config
