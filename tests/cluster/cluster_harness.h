#pragma once
// The cluster tests' fixture and helpers: several parleyd nodes on one PostgreSQL schema and
// one Kafka topic, both unique to the test, so that ctest runs the cases in parallel on the
// shared broker (PARLEY_KAFKA_SHARED_DIR, a ctest fixture). Tests that stop Kafka or
// PostgreSQL start their own (own_broker, pg_instance).
//
// A `member` is one WebSocket connection with the bookkeeping that checks the delivery
// guarantees of protocol.md section 4 on every frame it reads: per room, message seqs
// arrive contiguous, in order, each once; no frame names a room the connection did not
// join. Violations are collected in member::errors (the tests assert it is empty).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "client/client.h"
#include "harness.h"
#include "node_process.h"

namespace parley::ctest {

namespace json = boost::json;
using namespace std::chrono_literals;
using itest::conn;
using itest::num;
using itest::str;

// ---------------------------------------------------------------------------- environment
// The shared broker's bootstrap ("127.0.0.1:P") from $PARLEY_KAFKA_SHARED_DIR/bootstrap;
// "" (and `why`) when there is none.
std::string shared_bootstrap(std::string& why);
// $PARLEY_TEST_PG or postgresql://postgres@127.0.0.1:5432/test
std::string pg_base();
// `prefix` + pid + counter + random: a topic or schema name no other test uses.
std::string unique_name(std::string_view prefix);
// `base` with `options=-csearch_path=<schema>` added to its query.
std::string with_schema(const std::string& base, const std::string& schema);
// Runs `sql` on `url` (libpq); rows of the last result as text. nullopt on error (why).
std::optional<std::vector<std::vector<std::string>>> pg_query(const std::string& url,
                                                              const std::string& sql,
                                                              std::string& why);
std::string source_dir();
std::string bin_dir();

// ------------------------------------------------------------------- own broker / database
// A Kafka broker of the test's own (scripts/kafka in a temporary dir): can be stopped and
// started again on the same port and data. Always stopped by the destructor.
class own_broker {
 public:
  own_broker();
  ~own_broker();
  own_broker(const own_broker&) = delete;
  own_broker& operator=(const own_broker&) = delete;
  bool start(std::string& why);  // first call: a free port; later: the same port and dir
  bool stop(std::string& why);
  const std::string& bootstrap() const { return bootstrap_; }
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_, bootstrap_;
  int port_ = 0;
  bool maybe_running_ = false;
};

// A PostgreSQL server of the test's own (initdb + pg_ctl as user postgres when root).
class pg_instance {
 public:
  pg_instance();
  ~pg_instance();
  const std::string& skip_reason() const { return skip_; }
  std::string url() const;  // postgresql://postgres@127.0.0.1:PORT/postgres
  bool start();
  bool stop();  // immediate: connections are cut

 private:
  bool sh(const std::string& cmd);
  std::string bin_, dir_, skip_;
  int port_ = 0;
};

// --------------------------------------------------------------------------------- kafka
struct kafka_record {
  std::string key;
  std::optional<std::string> value;  // nullopt: a null value (tombstone)
  int partition = -1;
  std::int64_t offset = -1;
};
// Produces raw records (key, value) with the murmur2 partitioner and waits for the broker's
// acknowledgement of every one.
bool produce_raw(const std::string& bootstrap, const std::string& topic,
                 const std::vector<std::pair<std::string, std::optional<std::string>>>& records,
                 std::string& why);
// Reads `topic` from the beginning as consumer group `group` until done(records so far)
// holds or `timeout` passes. Returns every record read.
std::vector<kafka_record> consume_topic(
    const std::string& bootstrap, const std::string& topic, const std::string& group,
    const std::function<bool(const std::vector<kafka_record>&)>& done,
    std::chrono::milliseconds timeout, std::string& why);
// (room, seq) of the `message` records among `records` (values that parse as protocol.md
// section 7 message records), with how often each was seen.
std::map<std::pair<std::string, std::int64_t>, int> message_keys(
    const std::vector<kafka_record>& records);

// -------------------------------------------------------------------------------- member
struct member {
  std::unique_ptr<conn> c;
  std::string user;
  std::string name;  // for messages: "alice@n1"
  std::set<std::string> joined;
  std::map<std::string, std::int64_t> last;                         // room -> last seq
  std::map<std::string, std::map<std::int64_t, json::object>> got;  // room -> seq -> msg
  std::map<std::string, json::object> acks;                         // cid -> ack
  std::vector<json::object> errors_frames;                          // `error` frames
  std::vector<json::object> other;  // notify, left, typing, read, ...
  std::vector<std::string> errors;  // guarantee violations
  std::set<std::string> sent_cids;  // for the tests' own bookkeeping
  int rid = 0;

  bool open() const;
  // Reads one frame (waiting at most `t`) and checks it. False on timeout or close.
  bool pump(std::chrono::milliseconds t);
  // Sends `join` with `since` (default: what this member already has, else 0) and reads the
  // replay until live (re-joining while more:true). False (errors) on failure.
  bool join(const std::string& room, std::optional<std::int64_t> since = std::nullopt,
            std::chrono::milliseconds timeout = 10s);
  bool send(const std::string& room, const std::string& text, const std::string& cid);
  // Pumps until last[room] >= seq. False on timeout or close.
  bool wait_seq(const std::string& room, std::int64_t seq, std::chrono::milliseconds timeout);
  // Pumps until `cid` is acked (now or earlier) or an `error` frame for it arrives (one
  // read before this call does not count).
  bool wait_ack(const std::string& cid, std::chrono::milliseconds timeout);
  // Pumps for `d` (everything that arrives is checked).
  void drain(std::chrono::milliseconds d);
  std::string report() const;  // errors + transcript for failure messages
  // Replaces the connection (after a reconnect); joined rooms and seqs are kept.
  void reset_connection(std::unique_ptr<conn> nc);
  // The last frame pump() read.
  const json::object& last_frame() const { return last_frame_; }

 private:
  void feed_message(const std::string& room, const json::object& m, std::string_view via);
  void check_room(const json::object& f);

  std::set<std::string> sent_here_;   // cids sent on the current connection
  std::set<std::string> acked_here_;  // cids acked on the current connection
  json::object last_frame_, last_history_, last_joined_;
};

// Every member saw exactly seqs 1..total of `room` (member::pump checked order and
// uniqueness on arrival), all with the same ids, matching the members' acks.
::testing::AssertionResult same_stream(const std::vector<member*>& ms, const std::string& room,
                                       std::int64_t total);

// ------------------------------------------------------------------------------- fixture
class cluster : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Adds a node (not started) on this test's schema and topic, or on `db` / `kafka`.
  node_process& add_node(std::vector<std::string> extra = {}, std::string db = {},
                         std::string kafka = {});
  // Starts every node that is not running, all at once. False (failure recorded) if one
  // did not come up.
  bool start_all(std::chrono::milliseconds timeout = 30s);
  // add_node() n times and start_all().
  bool start_nodes(int n, std::vector<std::string> extra = {});
  node_process& node(std::size_t i) { return *nodes_.at(i); }

  std::string token(std::string_view user) const;
  std::unique_ptr<member> connect(std::size_t node, std::string_view user,
                                  std::string_view query = {});
  // Connects again (same member state) to `node`, re-joining every joined room with since.
  bool reconnect(member& m, std::size_t node);
  client::http_response http(std::size_t node, std::string_view user, const std::string& method,
                             const std::string& target, const std::string& body = {});
  std::string create_room(std::size_t node, std::string_view owner, std::string_view name,
                          const std::vector<std::string>& members);
  std::string metrics_text(std::size_t node);
  std::optional<double> metric(std::size_t node, std::string_view name);
  // Every stored message of `room` (GET .../messages?after=, paging), as `user` via `node`.
  std::vector<json::object> stored_messages(std::size_t node, std::string_view user,
                                            const std::string& room);
  // Polls `cond` every 100 ms until it holds or `timeout` passes.
  static bool eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout);
  // Dumps the logs of every node (called on failure).
  void dump_logs();

  std::string bootstrap_;  // the shared broker
  std::string shared_why_;
  std::string topic_;
  std::string schema_;
  std::string db_;  // pg_base() on schema_
  std::string secret_ = "cluster-secret";
  std::vector<std::unique_ptr<node_process>> nodes_;
  bool drop_schema_ = true;
  std::string schema_marker_;  // $PARLEY_CLUSTER_SCRATCH/schema-<schema>
};

}  // namespace parley::ctest
