#include "cluster_harness.h"

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "auth/jwt.h"
#include "raw_jwt.h"

namespace parley::ctest {
namespace {

using steady = std::chrono::steady_clock;

std::chrono::milliseconds left_until(steady::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
  return d.count() > 0 ? d : 0ms;
}

// Runs a shell command; its exit status and combined output.
int run(const std::string& cmd, std::string& out) {
  out.clear();
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  while (std::fgets(buf, sizeof buf, p)) out += buf;
  int st = ::pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

// Under $PARLEY_CLUSTER_SCRATCH when set (swept by the ctest fixture's cleanup), else the
// system's temporary directory.
std::string make_temp_dir(std::string_view prefix) {
  std::filesystem::path base = std::filesystem::temp_directory_path();
  if (const char* s = std::getenv("PARLEY_CLUSTER_SCRATCH"); s != nullptr && *s != '\0') {
    std::error_code ec;
    std::filesystem::create_directories(s, ec);
    if (!ec) base = s;
  }
  std::string tmpl = (base / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  ::close(fd);
  return port;
}

std::string script() { return source_dir() + "/scripts/kafka"; }

std::string tail_of(const std::string& s, std::size_t n) {
  return s.size() > n ? "...\n" + s.substr(s.size() - n) : s;
}

}  // namespace

// ---------------------------------------------------------------------------- environment

std::string source_dir() { return PARLEY_SOURCE_DIR; }

std::string bin_dir() {
  const char* d = std::getenv("PARLEY_BIN_DIR");
  return d != nullptr && *d != '\0' ? d : ".";
}

std::string shared_bootstrap(std::string& why) {
  const char* d = std::getenv("PARLEY_KAFKA_SHARED_DIR");
  if (d == nullptr || *d == '\0') {
    why = "PARLEY_KAFKA_SHARED_DIR is not set (run through ctest, which starts the shared broker)";
    return {};
  }
  std::ifstream f(std::string(d) + "/bootstrap");
  std::string b;
  f >> b;
  if (b.empty()) why = std::string("no bootstrap in ") + d + "/bootstrap (is the broker up?)";
  return b;
}

std::string pg_base() {
  const char* e = std::getenv("PARLEY_TEST_PG");
  return e != nullptr && *e != '\0' ? e : "postgresql://postgres@127.0.0.1:5432/test";
}

std::string unique_name(std::string_view prefix) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  char rnd[16];
  std::snprintf(rnd, sizeof rnd, "%06x", static_cast<unsigned>(rd()) & 0xffffffu);
  return std::string(prefix) + std::to_string(::getpid()) + "_" + std::to_string(++counter) + "_" +
         rnd;
}

std::string with_schema(const std::string& base, const std::string& schema) {
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

std::optional<std::vector<std::vector<std::string>>> pg_query(const std::string& url,
                                                              const std::string& sql,
                                                              std::string& why) {
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    why = std::string("connect: ") + PQerrorMessage(c);
    PQfinish(c);
    return std::nullopt;
  }
  PGresult* r = PQexec(c, sql.c_str());
  auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    why = std::string(PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return std::nullopt;
  }
  std::vector<std::vector<std::string>> rows;
  for (int i = 0; i < PQntuples(r); ++i) {
    std::vector<std::string> row;
    for (int j = 0; j < PQnfields(r); ++j) row.emplace_back(PQgetvalue(r, i, j));
    rows.push_back(std::move(row));
  }
  PQclear(r);
  PQfinish(c);
  return rows;
}

// ------------------------------------------------------------------------------ own_broker

own_broker::own_broker() : dir_(make_temp_dir("kafka")) {}

own_broker::~own_broker() {
  std::string why;
  stop(why);
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

bool own_broker::start(std::string& why) {
  if (dir_.empty()) {
    why = "mkdtemp failed";
    return false;
  }
  std::string out;
  maybe_running_ = true;  // a failed start may have left a process: stop() checks
  int rc =
      run(script() + " start --timeout 60 --port " + std::to_string(port_) + " --dir " + dir_, out);
  if (rc != 0) {
    why = "scripts/kafka start failed (" + std::to_string(rc) + "):\n" + out;
    return false;
  }
  std::ifstream f(dir_ + "/port");
  int p = 0;
  f >> p;
  if (p <= 0) {
    why = "no port in " + dir_ + "/port";
    return false;
  }
  port_ = p;
  bootstrap_ = "127.0.0.1:" + std::to_string(port_);
  return true;
}

bool own_broker::stop(std::string& why) {
  if (!maybe_running_ || dir_.empty()) return true;
  std::string out;
  int rc = run(script() + " stop --dir " + dir_, out);
  maybe_running_ = false;
  if (rc != 0) why = out;
  return rc == 0;
}

// ----------------------------------------------------------------------------- pg_instance

pg_instance::pg_instance() {
  const char* bin_env = std::getenv("PARLEY_PG_BIN");
  bin_ = bin_env ? bin_env : "/usr/lib/postgresql/15/bin";
  if (!std::filesystem::exists(bin_ + "/initdb")) {
    skip_ = "no PostgreSQL server binaries in " + bin_ + " (set PARLEY_PG_BIN)";
    return;
  }
  dir_ = make_temp_dir("pg");
  port_ = free_port();
  if (dir_.empty() || port_ <= 0) {
    skip_ = "no temporary dir or free port";
    return;
  }
  if (::geteuid() == 0 && std::system(("chown postgres " + dir_).c_str()) != 0) {
    skip_ = "running as root and cannot hand " + dir_ + " to user postgres";
    return;
  }
  if (!sh(bin_ + "/initdb -D " + dir_ + "/data -U postgres -A trust --no-sync >" + dir_ +
          "/initdb.log 2>&1")) {
    skip_ = "initdb failed (see " + dir_ + "/initdb.log)";
    return;
  }
  if (!start()) skip_ = "the test's own PostgreSQL did not start (see " + dir_ + "/log)";
}

pg_instance::~pg_instance() {
  if (!dir_.empty()) {
    (void)stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string pg_instance::url() const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
}

bool pg_instance::start() {
  return sh(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -t 60 -o \"-p " +
            std::to_string(port_) + " -k " + dir_ +
            " -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null 2>&1");
}

bool pg_instance::stop() {
  if (!std::filesystem::exists(dir_ + "/data/postmaster.pid")) return true;
  return sh(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1");
}

bool pg_instance::sh(const std::string& cmd) {
  std::string full = ::geteuid() == 0 ? "su postgres -s /bin/sh -c '" + cmd + "'" : cmd;
  return std::system(full.c_str()) == 0;
}

// ----------------------------------------------------------------------------------- kafka

namespace {

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
using rk_ptr = std::unique_ptr<rd_kafka_t, rk_deleter>;

struct produce_state {
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::string last_error;
};

void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* st = static_cast<produce_state*>(opaque);
  if (m->err) {
    st->failed.fetch_add(1);
    st->last_error = rd_kafka_err2str(m->err);
  } else {
    st->ok.fetch_add(1);
  }
}

bool set(rd_kafka_conf_t* conf, const char* k, const std::string& v, std::string& why) {
  char err[512];
  if (rd_kafka_conf_set(conf, k, v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
    why = std::string(k) + ": " + err;
    return false;
  }
  return true;
}

}  // namespace

bool produce_raw(const std::string& bootstrap, const std::string& topic,
                 const std::vector<std::pair<std::string, std::optional<std::string>>>& records,
                 std::string& why) {
  produce_state st;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set(conf, "bootstrap.servers", bootstrap, why) ||
      !set(conf, "partitioner", "murmur2_random", why) || !set(conf, "acks", "all", why) ||
      !set(conf, "log_level", "3", why)) {
    rd_kafka_conf_destroy(conf);
    return false;
  }
  rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
  rd_kafka_conf_set_opaque(conf, &st);
  char err[512];
  rk_ptr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    why = err;
    return false;
  }
  for (const auto& [key, value] : records) {
    void* payload = value ? const_cast<char*>(value->data()) : nullptr;
    std::size_t len = value ? value->size() : 0;
    void* kp = const_cast<char*>(key.data());
    std::size_t klen = key.size();
    auto e = rd_kafka_producev(rk.get(), RD_KAFKA_V_TOPIC(topic.c_str()), RD_KAFKA_V_KEY(kp, klen),
                               RD_KAFKA_V_VALUE(payload, len),
                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (e) {
      why = std::string("produce: ") + rd_kafka_err2str(e);
      return false;
    }
  }
  rd_kafka_flush(rk.get(), 15'000);
  if (st.ok.load() != static_cast<int>(records.size())) {
    why = "delivered " + std::to_string(st.ok.load()) + " of " + std::to_string(records.size()) +
          " (" + st.last_error + ")";
    return false;
  }
  return true;
}

std::vector<kafka_record> consume_topic(
    const std::string& bootstrap, const std::string& topic, const std::string& group,
    const std::function<bool(const std::vector<kafka_record>&)>& done,
    std::chrono::milliseconds timeout, std::string& why) {
  std::vector<kafka_record> out;
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  if (!set(conf, "bootstrap.servers", bootstrap, why) || !set(conf, "group.id", group, why) ||
      !set(conf, "auto.offset.reset", "earliest", why) ||
      !set(conf, "enable.auto.commit", "false", why) || !set(conf, "log_level", "3", why)) {
    rd_kafka_conf_destroy(conf);
    return out;
  }
  char err[512];
  rk_ptr rk(rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err));
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    why = err;
    return out;
  }
  rd_kafka_poll_set_consumer(rk.get());
  rd_kafka_topic_partition_list_t* topics = rd_kafka_topic_partition_list_new(1);
  rd_kafka_topic_partition_list_add(topics, topic.c_str(), RD_KAFKA_PARTITION_UA);
  auto e = rd_kafka_subscribe(rk.get(), topics);
  rd_kafka_topic_partition_list_destroy(topics);
  if (e) {
    why = std::string("subscribe: ") + rd_kafka_err2str(e);
    return out;
  }
  const auto deadline = steady::now() + timeout;
  while (steady::now() < deadline && !done(out)) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), 200);
    if (!m) continue;
    if (!m->err) {
      kafka_record r;
      if (m->key) r.key.assign(static_cast<const char*>(m->key), m->key_len);
      if (m->payload) r.value = std::string(static_cast<const char*>(m->payload), m->len);
      r.partition = m->partition;
      r.offset = m->offset;
      out.push_back(std::move(r));
    } else if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      why = rd_kafka_message_errstr(m);
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk.get());
  return out;
}

std::map<std::pair<std::string, std::int64_t>, int> message_keys(
    const std::vector<kafka_record>& records) {
  std::map<std::pair<std::string, std::int64_t>, int> keys;
  for (const auto& r : records) {
    if (!r.value) continue;
    boost::system::error_code ec;
    auto v = json::parse(*r.value, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    if (str(o, "kind") != "message" || num(o, "v") != 1) continue;
    auto seq = num(o, "seq");
    if (seq < 1 || str(o, "room").empty()) continue;
    ++keys[{str(o, "room"), seq}];
  }
  return keys;
}

// ---------------------------------------------------------------------------------- member

bool member::open() const { return c && c->ws && c->ws->is_open(); }

void member::check_room(const json::object& f) {
  std::string room = str(f, "room");
  if (!joined.count(room)) {
    errors.push_back(name + ": '" + str(f, "type") + "' frame of room " + room +
                     ", which this connection did not join: " + itest::dump(f));
  }
}

void member::feed_message(const std::string& room, const json::object& m, std::string_view via) {
  std::int64_t seq = num(m, "seq");
  std::int64_t& l = last[room];
  if (seq == l + 1) {
    got[room][seq] = m;
    l = seq;
    return;
  }
  if (seq <= l) {
    errors.push_back(name + ": " + std::string(via) + " message of " + room + " seq " +
                     std::to_string(seq) + " again or out of order (last " + std::to_string(l) +
                     "): " + itest::dump(m));
  } else {
    errors.push_back(name + ": " + std::string(via) + " message of " + room + " seq " +
                     std::to_string(seq) + " after " + std::to_string(l) +
                     " (gap): " + itest::dump(m));
    got[room][seq] = m;
    l = seq;
  }
}

bool member::pump(std::chrono::milliseconds t) {
  if (!c) return false;
  auto f = itest::next_frame(*c, t);
  if (!f) return false;
  std::string type = str(*f, "type");
  if (type == "message") {
    check_room(*f);
    std::string cid = str(*f, "cid");
    if (str(*f, "from") == user && !cid.empty() && sent_here_.count(cid) &&
        !acked_here_.count(cid)) {
      errors.push_back(name + ": own message " + cid + " arrived before its ack");
    }
    if (joined.count(str(*f, "room"))) feed_message(str(*f, "room"), *f, "live");
  } else if (type == "history") {
    check_room(*f);
    std::string room = str(*f, "room");
    if (joined.count(room)) {
      for (const auto& v : itest::arr(*f, "messages")) {
        if (v.is_object()) feed_message(room, v.as_object(), "history");
      }
    }
    last_history_ = *f;
  } else if (type == "joined" || type == "typing" || type == "read") {
    check_room(*f);
    if (type == "joined")
      last_joined_ = *f;
    else
      other.push_back(*f);
  } else if (type == "ack") {
    acks[str(*f, "cid")] = *f;
    acked_here_.insert(str(*f, "cid"));
  } else if (type == "error") {
    errors_frames.push_back(*f);
  } else if (type == "left") {
    joined.erase(str(*f, "room"));
    other.push_back(*f);
  } else {
    other.push_back(*f);
  }
  last_frame_ = std::move(*f);
  return true;
}

bool member::join(const std::string& room, std::optional<std::int64_t> since,
                  std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  if (since) last[room] = *since;
  joined.insert(room);
  for (int round = 0; round < 100; ++round) {
    std::string r = "j" + std::to_string(++rid);
    if (!c->send({{"type", "join"}, {"room", room}, {"since", last[room]}, {"rid", r}})) {
      errors.push_back(name + ": join " + room + ": connection closed");
      return false;
    }
    bool again = false;
    for (;;) {
      auto t = left_until(deadline);
      if (t.count() == 0 || (!pump(t) && !open())) {
        errors.push_back(name + ": join " + room + " since " + std::to_string(last[room]) +
                         ": no complete replay in time");
        return false;
      }
      if (last_frame_.empty() || str(last_frame_, "rid") != r) continue;
      std::string type = str(last_frame_, "type");
      if (type == "error") {
        errors.push_back(name + ": join " + room + " refused: " + itest::dump(last_frame_));
        joined.erase(room);
        return false;
      }
      if (type == "history") {
        if (!itest::boolean(last_frame_, "more")) return true;
        again = true;
        break;
      }
    }
    if (!again) break;
  }
  return true;
}

bool member::send(const std::string& room, const std::string& text, const std::string& cid) {
  sent_here_.insert(cid);
  return c->send({{"type", "send"}, {"room", room}, {"text", text}, {"cid", cid}});
}

bool member::wait_seq(const std::string& room, std::int64_t seq,
                      std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  while (last[room] < seq) {
    auto t = left_until(deadline);
    if (t.count() == 0) return false;
    if (!pump(t) && !open()) return false;
  }
  return true;
}

bool member::wait_ack(const std::string& cid, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  const std::size_t first_error = errors_frames.size();  // earlier refusals do not count
  for (;;) {
    if (acks.count(cid)) return true;
    for (std::size_t i = first_error; i < errors_frames.size(); ++i) {
      if (str(errors_frames[i], "ref") == cid) return true;
    }
    auto t = left_until(deadline);
    if (t.count() == 0) return false;
    if (!pump(t) && !open()) return false;
  }
}

void member::drain(std::chrono::milliseconds d) {
  const auto deadline = steady::now() + d;
  for (;;) {
    auto t = left_until(deadline);
    if (t.count() == 0) return;
    if (!pump(t) && !open()) return;
  }
}

void member::reset_connection(std::unique_ptr<conn> nc) {
  c = std::move(nc);
  sent_here_.clear();
  acked_here_.clear();
}

std::string member::report() const {
  std::string out = name + ":\n";
  for (const auto& e : errors) out += "  violation: " + e + "\n";
  for (const auto& e : errors_frames) out += "  error frame: " + itest::dump(e) + "\n";
  out += "  last seq:";
  for (const auto& [r, s] : last) out += " " + r + "=" + std::to_string(s);
  out += "\n  frames:\n" + (c ? c->transcript() : std::string("    (no connection)\n"));
  return out;
}

::testing::AssertionResult same_stream(const std::vector<member*>& ms, const std::string& room,
                                       std::int64_t total) {
  std::map<std::int64_t, std::string> ids;
  for (member* m : ms) {
    if (!m->errors.empty()) {
      return ::testing::AssertionFailure() << "guarantee violated:\n" << m->report();
    }
    const auto& got = m->got[room];
    if (static_cast<std::int64_t>(got.size()) != total || m->last[room] != total) {
      return ::testing::AssertionFailure()
             << m->name << " has " << got.size() << " messages of " << room << " (last seq "
             << m->last[room] << "), expected " << total << "\n"
             << m->report();
    }
    for (const auto& [seq, msg] : got) {
      auto [it, fresh] = ids.emplace(seq, str(msg, "id"));
      if (!fresh && it->second != str(msg, "id")) {
        return ::testing::AssertionFailure()
               << m->name << ": seq " << seq << " has id " << str(msg, "id")
               << ", another member saw " << it->second;
      }
    }
  }
  for (member* m : ms) {
    for (const auto& [cid, ack] : m->acks) {
      if (str(ack, "room") != room) continue;
      auto it = ids.find(num(ack, "seq"));
      if (it == ids.end() || it->second != str(ack, "id")) {
        return ::testing::AssertionFailure()
               << m->name << ": ack " << itest::dump(ack) << " does not match the delivered "
               << (it == ids.end() ? std::string("(nothing)") : it->second);
      }
    }
  }
  return ::testing::AssertionSuccess();
}

// --------------------------------------------------------------------------------- fixture

void cluster::SetUp() {
  std::string why;
  bootstrap_ = shared_bootstrap(why);
  shared_why_ = why;
  topic_ = unique_name("parley.ct.");
  schema_ = unique_name("ct_");
  db_ = with_schema(pg_base(), schema_);
  // A marker for the fixture's cleanup, which drops the schema should this process be
  // killed before TearDown (fixture.sh).
  if (const char* s = std::getenv("PARLEY_CLUSTER_SCRATCH"); s != nullptr && *s != '\0') {
    std::error_code ec;
    std::filesystem::create_directories(s, ec);
    schema_marker_ = std::string(s) + "/schema-" + schema_;
    std::ofstream(schema_marker_) << schema_ << "\n";
  }
}

void cluster::TearDown() {
  if (HasFailure()) dump_logs();
  for (auto& n : nodes_) {
    if (HasFailure()) n->keep_dir();
    n->kill();
  }
  nodes_.clear();
  if (drop_schema_) {
    std::string why;
    if (!pg_query(pg_base(), "DROP SCHEMA IF EXISTS \"" + schema_ + "\" CASCADE", why)) {
      std::cerr << "cluster: dropping schema " << schema_ << ": " << why << "\n";
    }
  }
  if (!schema_marker_.empty()) {
    std::error_code ec;
    std::filesystem::remove(schema_marker_, ec);
  }
}

void cluster::dump_logs() {
  for (auto& n : nodes_) {
    std::cerr << "---- parleyd " << n->id() << " (dir " << n->dir() << ", error '" << n->error()
              << "') stderr ----\n"
              << tail_of(n->log(), 12000) << "\n---- end of " << n->id() << " ----\n";
  }
}

node_process& cluster::add_node(std::vector<std::string> extra, std::string db, std::string kafka) {
  node_options o;
  o.node_id = "n" + std::to_string(nodes_.size() + 1);
  o.db = db.empty() ? db_ : db;
  o.kafka = kafka.empty() ? bootstrap_ : kafka;
  if (o.kafka.empty()) ADD_FAILURE() << "no shared Kafka broker: " << shared_why_;
  o.topic = topic_;
  o.secret = secret_;
  o.extra = std::move(extra);
  nodes_.push_back(std::make_unique<node_process>(std::move(o)));
  return *nodes_.back();
}

bool cluster::start_all(std::chrono::milliseconds timeout) {
  std::vector<std::thread> threads;
  std::vector<char> ok(nodes_.size(), 1);
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i]->alive()) continue;
    // Forked here, on the main thread (node_process::launch); the port lines are awaited
    // in parallel.
    if (!nodes_[i]->launch()) {
      ok[i] = 0;
      continue;
    }
    threads.emplace_back(
        [this, i, timeout, &ok] { ok[i] = nodes_[i]->await_ready(timeout) ? 1 : 0; });
  }
  for (auto& t : threads) t.join();
  bool all = true;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    if (!ok[i]) {
      ADD_FAILURE() << "node " << nodes_[i]->id() << " did not start: " << nodes_[i]->error();
      all = false;
    }
  }
  return all;
}

bool cluster::start_nodes(int n, std::vector<std::string> extra) {
  for (int i = 0; i < n; ++i) add_node(extra);
  return start_all();
}

std::string cluster::token(std::string_view user) const {
  return auth::mint_hs256(secret_, user, itest::unix_s(3600));
}

std::unique_ptr<member> cluster::connect(std::size_t node, std::string_view user,
                                         std::string_view query) {
  auto m = std::make_unique<member>();
  m->user = std::string(user);
  m->name = std::string(user) + "@" + nodes_.at(node)->id();
  client::connect_error err;
  std::string url = nodes_.at(node)->ws_base() + "/ws?token=" + itest::enc(token(user));
  if (!query.empty()) url += "&" + std::string(query);
  auto ws = client::ws_client::connect(url, {}, &err);
  if (!ws) {
    ADD_FAILURE() << m->name << ": connect refused: HTTP " << err.http_status << " " << err.body;
    return nullptr;
  }
  auto c = std::make_unique<conn>(std::move(ws), std::string(user));
  c->hello = itest::expect_next(*c, "hello");
  if (c->hello.empty()) return nullptr;
  m->reset_connection(std::move(c));
  return m;
}

bool cluster::reconnect(member& m, std::size_t node) {
  client::connect_error err;
  std::string url = nodes_.at(node)->ws_base() + "/ws?token=" + itest::enc(token(m.user));
  auto ws = client::ws_client::connect(url, {}, &err);
  if (!ws) {
    m.errors.push_back(m.name + ": reconnect to " + nodes_.at(node)->id() + " refused: HTTP " +
                       std::to_string(err.http_status) + " " + err.body);
    return false;
  }
  auto c = std::make_unique<conn>(std::move(ws), m.user);
  c->hello = itest::expect_next(*c, "hello");
  if (c->hello.empty()) return false;
  m.reset_connection(std::move(c));
  m.name = m.user + "@" + nodes_.at(node)->id();
  bool ok = true;
  auto rooms = m.joined;
  for (const auto& r : rooms) ok = m.join(r) && ok;
  return ok;
}

client::http_response cluster::http(std::size_t node, std::string_view user,
                                    const std::string& method, const std::string& target,
                                    const std::string& body) {
  std::optional<std::string> bearer;
  if (!user.empty()) bearer = token(user);
  return client::http_request(nodes_.at(node)->http_base(), method, target, body, bearer);
}

std::string cluster::create_room(std::size_t node, std::string_view owner, std::string_view name,
                                 const std::vector<std::string>& members) {
  json::array m;
  for (const auto& u : members) m.emplace_back(u);
  json::object body{{"name", name}, {"members", std::move(m)}};
  auto r = http(node, owner, "POST", "/api/rooms", json::serialize(body));
  if (r.status != 201) {
    ADD_FAILURE() << "POST /api/rooms: " << r.status << " " << r.body;
    return {};
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || str(v.as_object(), "id").empty()) {
    ADD_FAILURE() << "POST /api/rooms: bad body " << r.body;
    return {};
  }
  return str(v.as_object(), "id");
}

std::string cluster::metrics_text(std::size_t node) {
  return client::http_request(nodes_.at(node)->http_base(), "GET", "/metrics").body;
}

std::optional<double> cluster::metric(std::size_t node, std::string_view name) {
  return itest::metric(metrics_text(node), name);
}

std::vector<json::object> cluster::stored_messages(std::size_t node, std::string_view user,
                                                   const std::string& room) {
  std::vector<json::object> out;
  std::int64_t after = 0;
  for (int page = 0; page < 1000; ++page) {
    auto r = http(node, user, "GET",
                  "/api/rooms/" + itest::enc(room) + "/messages?after=" + std::to_string(after) +
                      "&limit=200");
    if (r.status != 200) {
      ADD_FAILURE() << "GET messages of " << room << ": " << r.status << " " << r.body;
      return out;
    }
    boost::system::error_code ec;
    auto v = json::parse(r.body, ec);
    if (ec || !v.is_object()) {
      ADD_FAILURE() << "GET messages: bad body " << r.body;
      return out;
    }
    const auto& msgs = itest::arr(v.as_object(), "messages");
    for (const auto& m : msgs) {
      if (!m.is_object()) continue;
      out.push_back(m.as_object());
      after = std::max(after, num(m.as_object(), "seq"));
    }
    if (msgs.empty() || !itest::boolean(v.as_object(), "more")) break;
  }
  std::sort(out.begin(), out.end(), [](const json::object& a, const json::object& b) {
    return num(a, "seq") < num(b, "seq");
  });
  return out;
}

bool cluster::eventually(const std::function<bool()>& cond, std::chrono::milliseconds timeout) {
  const auto deadline = steady::now() + timeout;
  for (;;) {
    if (cond()) return true;
    if (steady::now() >= deadline) return false;
    std::this_thread::sleep_for(100ms);
  }
}

}  // namespace parley::ctest
