// parley tail --kafka: a downstream consumer of the bus topic (docs/records.md), the way a
// notification, search or analytics service reads it: its own consumer group, librdkafka's
// high-level consumer (subscribe; the group coordinator assigns partitions).
//
// Every record is decoded with bus::decode. `message` records are printed, one JSON line
// each: the record's JSON object as it is on the topic, every field kept, serialized on one
// line (for records written by parleyd that is byte for byte the record's value). The
// topic is at-least-once, so a (room, seq) already printed by this process is skipped.
// Records of the other kinds (read, typing, membership) are consumed and not printed.
// Records that do not decode are skipped with a line on stderr carrying the running count.
//
// Offsets: enable.auto.commit=true with enable.auto.offset.store=false: an offset is
// stored for the periodic commit only after its record was printed (and flushed) or
// skipped, so a group that is stopped and started again resumes after the last record it
// handled, and at worst prints a record again (never loses one).
#include <librdkafka/rdkafka.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bus/bus.h"
#include "tools/commands.h"
#include "tools/common.h"

namespace parley::tools {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// How long one poll waits before looking at the signal flag again.
constexpr int k_poll_ms = 100;
// How long a closing consumer may take to commit and leave its group.
constexpr auto k_close_timeout = 5s;

std::atomic<bool> g_stop{false};
extern "C" void on_kafka_tail_signal(int) { g_stop.store(true); }

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct conf_deleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct list_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};

std::string random_group() {
  std::random_device rd;
  char buf[40];
  std::snprintf(buf, sizeof buf, "parley-tail-%08x%08x", rd(), rd());
  return buf;
}

// Which (room, seq) were printed. Per room: every seq <= `low` was seen, plus the seqs
// above it; `low` advances over contiguous runs, so a room read from its first message
// keeps only the out-of-order tail in the set.
class seen_set {
 public:
  // true when (room, seq) is new (and remembers it).
  bool insert(const std::string& room, std::int64_t seq) {
    auto& r = rooms_[room];
    if (seq <= r.low || !r.above.insert(seq).second) return false;
    while (!r.above.empty() && *r.above.begin() == r.low + 1) {
      r.above.erase(r.above.begin());
      ++r.low;
    }
    return true;
  }

 private:
  struct room_state {
    std::int64_t low = 0;
    std::set<std::int64_t> above;
  };
  std::unordered_map<std::string, room_state> rooms_;
};

bool set_prop(rd_kafka_conf_t* c, const std::string& key, const std::string& value,
              std::string& why) {
  char err[512];
  if (rd_kafka_conf_set(c, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK)
    return true;
  why = "kafka option " + key + "=" + value + ": " + err;
  return false;
}

// The last error reported on stderr: librdkafka repeats transient errors (a broker that is
// down) while it retries; each kind is reported once until records flow again.
std::atomic<int> g_last_error{RD_KAFKA_RESP_ERR_NO_ERROR};

void report_error(rd_kafka_resp_err_t e, const char* reason) {
  if (g_last_error.exchange(e) == e) return;
  std::cerr << "parley tail: kafka: " << reason << "\n";
}

// Errors come through error_cb (and consumer_poll); the log only adds critical lines.
void log_cb(const rd_kafka_t*, int level, const char* fac, const char* buf) {
  if (level > 2) return;
  std::cerr << "parley tail: kafka " << fac << ": " << buf << "\n";
}

void error_cb(rd_kafka_t*, int err, const char* reason, void*) {
  report_error(static_cast<rd_kafka_resp_err_t>(err), reason);
}

void print_assignment(const char* what, const rd_kafka_topic_partition_list_t* parts) {
  std::string list;
  for (int i = 0; i < parts->cnt; ++i) {
    if (!list.empty()) list += ",";
    list += std::to_string(parts->elems[i].partition);
  }
  std::cerr << "parley tail: " << what << " partitions [" << list << "] of "
            << (parts->cnt > 0 ? parts->elems[0].topic : "?") << "\n";
}

// Rebalance: report the assignment on stderr (a test or a person can see when the consumer
// is in place), then apply it, eagerly or incrementally as the assignor asks.
void rebalance_cb(rd_kafka_t* rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t* parts,
                  void*) {
  const bool cooperative = std::string_view(rd_kafka_rebalance_protocol(rk)) == "COOPERATIVE";
  if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
    print_assignment("assigned", parts);
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_assign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, parts);
    }
  } else {
    if (err != RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS)
      std::cerr << "parley tail: rebalance error: " << rd_kafka_err2str(err) << "\n";
    if (cooperative) {
      if (auto* e = rd_kafka_incremental_unassign(rk, parts)) rd_kafka_error_destroy(e);
    } else {
      rd_kafka_assign(rk, nullptr);
    }
  }
}

int run(const kafka_tail_options& o) {
  if (o.brokers.empty()) return usage_error("tail", "--kafka needs a broker list (HOST:PORT,...)");
  if (o.topic.empty()) return usage_error("tail", "--topic must not be empty");
  std::vector<std::pair<std::string, std::string>> extra;
  for (const auto& kv : o.options) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return usage_error("tail", "--kafka-option \"" + kv + "\": expected KEY=VALUE");
    extra.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  const std::string group = o.group.empty() ? random_group() : o.group;

  std::string why;
  std::unique_ptr<rd_kafka_conf_t, conf_deleter> conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), log_cb);
  rd_kafka_conf_set_error_cb(conf.get(), error_cb);
  rd_kafka_conf_set_rebalance_cb(conf.get(), rebalance_cb);
  bool ok = set_prop(conf.get(), "bootstrap.servers", o.brokers, why) &&
            set_prop(conf.get(), "group.id", group, why) &&
            set_prop(conf.get(), "client.id", "parley-tail", why) &&
            // Where a partition with no committed offset for this group starts.
            set_prop(conf.get(), "auto.offset.reset", o.from_end ? "latest" : "earliest", why) &&
            set_prop(conf.get(), "enable.auto.commit", "true", why) &&
            // Offsets are stored by hand once a record was printed: at least once.
            set_prop(conf.get(), "enable.auto.offset.store", "false", why) &&
            set_prop(conf.get(), "enable.partition.eof", "false", why) &&
            // Small records, a person watching: do not wait 500 ms on an idle partition.
            set_prop(conf.get(), "fetch.wait.max.ms", "50", why) &&
            set_prop(conf.get(), "socket.nagle.disable", "true", why) &&
            set_prop(conf.get(), "reconnect.backoff.max.ms", "1000", why) &&
            // A topic created after tail started (parleyd creates it at start) is seen
            // within seconds, not after the default 5 minutes.
            set_prop(conf.get(), "topic.metadata.refresh.interval.ms", "2000", why) &&
            set_prop(conf.get(), "allow.auto.create.topics", "false", why);
  for (const auto& [k, v] : extra) {
    if (!ok) break;
    ok = set_prop(conf.get(), k, v, why);
  }
  if (!ok) return usage_error("tail", why);

  char err[512];
  std::unique_ptr<rd_kafka_t, rk_deleter> rk(
      rd_kafka_new(RD_KAFKA_CONSUMER, conf.get(), err, sizeof err));
  if (!rk) return failure("tail", std::string("kafka consumer: ") + err);
  conf.release();  // owned by rk now
  rd_kafka_poll_set_consumer(rk.get());

  struct sigaction sa {};
  sa.sa_handler = on_kafka_tail_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);  // a closed stdout is seen as a failed write

  {
    std::unique_ptr<rd_kafka_topic_partition_list_t, list_deleter> topics(
        rd_kafka_topic_partition_list_new(1));
    rd_kafka_topic_partition_list_add(topics.get(), o.topic.c_str(), RD_KAFKA_PARTITION_UA);
    if (auto e = rd_kafka_subscribe(rk.get(), topics.get()); e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      rd_kafka_destroy_flags(rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
      return failure("tail", std::string("subscribe to ") + o.topic + ": " + rd_kafka_err2str(e));
    }
  }
  std::cerr << "parley tail: consuming " << o.topic << " from " << o.brokers << " as group "
            << group << " (a partition without a committed offset starts at its "
            << (o.from_end ? "end" : "beginning") << ")\n";

  seen_set seen;
  std::uint64_t bad = 0, printed = 0, duplicates = 0;
  int status = k_exit_ok;
  while (!g_stop.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk.get(), k_poll_ms);
    if (!m) continue;
    std::unique_ptr<rd_kafka_message_t, void (*)(rd_kafka_message_t*)> msg(
        m, rd_kafka_message_destroy);
    if (m->err) {
      // Transient errors (broker down, topic not there yet) are reported once per kind;
      // librdkafka keeps retrying. Fatal ones end the tail.
      if (rd_kafka_fatal_error(rk.get(), err, sizeof err) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        status = failure("tail", std::string("kafka fatal error: ") + err);
        break;
      }
      report_error(m->err, rd_kafka_message_errstr(m));
      continue;
    }
    g_last_error.store(RD_KAFKA_RESP_ERR_NO_ERROR);
    std::string_view value(static_cast<const char*>(m->payload), m->payload ? m->len : 0);
    auto rec = bus::decode(value);
    if (!rec) {
      ++bad;
      std::cerr << "parley tail: skipped a bad record (partition " << m->partition << ", offset "
                << m->offset << "); " << bad << " bad record" << (bad == 1 ? "" : "s")
                << " so far\n";
    } else if (rec.value().type == bus::kind::message) {
      if (seen.insert(rec.value().room, rec.value().seq)) {
        // decode() accepted it, so it parses; serialize() puts it on one line.
        std::cout << json::serialize(json::parse(value)) << '\n' << std::flush;
        if (!std::cout) {
          std::cerr << "parley tail: stdout closed\n";
          break;
        }
        ++printed;
      } else {
        ++duplicates;
      }
    }
    // Handled (printed, skipped or not a message): committed by the next auto-commit.
    rd_kafka_offset_store(m->rkt, m->partition, m->offset);  // stores offset + 1
  }

  // Commit what was handled and leave the group, for at most k_close_timeout (a broker
  // that is down must not hold the tool).
  rd_kafka_queue_t* q = rd_kafka_queue_new(rk.get());
  if (auto* e = rd_kafka_consumer_close_queue(rk.get(), q)) {
    rd_kafka_error_destroy(e);
  } else {
    auto deadline = std::chrono::steady_clock::now() + k_close_timeout;
    while (!rd_kafka_consumer_closed(rk.get()) && std::chrono::steady_clock::now() < deadline) {
      if (rd_kafka_event_t* ev = rd_kafka_queue_poll(q, k_poll_ms)) {
        // Rebalance events on this queue: revoke everything.
        if (rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE) {
          rd_kafka_topic_partition_list_t* parts = rd_kafka_event_topic_partition_list(ev);
          rebalance_cb(rk.get(), rd_kafka_event_error(ev), parts, nullptr);
        }
        rd_kafka_event_destroy(ev);
      }
    }
  }
  rd_kafka_queue_destroy(q);
  rd_kafka_destroy_flags(rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  if (bad > 0)
    std::cerr << "parley tail: " << bad << " bad record" << (bad == 1 ? "" : "s")
              << " skipped in all\n";
  (void)printed;
  (void)duplicates;
  return status;
}

}  // namespace

void add_kafka_tail_options(CLI::App& cmd, kafka_tail_options& o) {
  auto* kafka =
      cmd.add_option(
             "--kafka", o.brokers,
             "read the bus topic from these Kafka brokers (HOST:PORT,...) instead of a server: "
             "prints every `message` record as one JSON line, the record's JSON exactly as on the "
             "topic (docs/records.md: v, kind, room, seq, id, from, text, ts, cid, node), "
             "deduplicated by (room, seq), in arrival order (which may differ from seq order "
             "within a room); other kinds are not printed; records that do not decode are skipped "
             "with a count on stderr. The WebSocket options do not apply.")
          ->type_name("BROKERS");
  cmd.add_option("--group", o.group,
                 "Kafka consumer group (default parley-tail-<random>, a new group each run); "
                 "a named group resumes from its committed offsets")
      ->type_name("GROUP")
      ->needs(kafka);
  cmd.add_option("--topic", o.topic, "the bus topic (with --kafka)")
      ->type_name("TOPIC")
      ->default_str("parley.messages")
      ->needs(kafka);
  auto* begin = cmd.add_flag("--from-beginning", o.from_beginning,
                             "a partition the group has no committed offset for starts at its "
                             "first record (the default)")
                    ->needs(kafka);
  auto* end = cmd.add_flag("--from-end", o.from_end,
                           "a partition the group has no committed offset for starts at its "
                           "end: only records produced from now on")
                  ->needs(kafka);
  begin->excludes(end);
  cmd.add_option("--kafka-option", o.options,
                 "librdkafka consumer property KEY=VALUE, repeatable, applied after parley's "
                 "own (security.protocol, sasl.*, ssl.*, ...)")
      ->type_name("KEY=VALUE")
      ->allow_extra_args(false)
      ->needs(kafka);
}

int run_tail_kafka(const kafka_tail_options& o) { return run(o); }

}  // namespace parley::tools
