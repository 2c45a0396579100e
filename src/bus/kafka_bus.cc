#include "bus/kafka_bus.h"

#include <fmt/format.h>
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>
#include <thread>

#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::bus {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

struct rk_deleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct conf_deleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct topic_deleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct parts_deleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
};
using rk_ptr = std::unique_ptr<rd_kafka_t, rk_deleter>;
using conf_ptr = std::unique_ptr<rd_kafka_conf_t, conf_deleter>;
using topic_ptr = std::unique_ptr<rd_kafka_topic_t, topic_deleter>;
using parts_ptr = std::unique_ptr<rd_kafka_topic_partition_list_t, parts_deleter>;

// What a produced record carries through librdkafka to its delivery report.
struct in_flight {
  record_ptr rec;
  steady::time_point sent;
};

int remaining_ms(steady::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
  return static_cast<int>(std::clamp<std::int64_t>(left, 0, 1 << 30));
}

bool fail_init(std::string& why, std::string reason) {
  why = std::move(reason);
  return false;
}

bool set_prop(rd_kafka_conf_t* c, const std::string& key, const std::string& value,
              std::string& why) {
  char err[512];
  if (rd_kafka_conf_set(c, key.c_str(), value.c_str(), err, sizeof err) == RD_KAFKA_CONF_OK) {
    return true;
  }
  why = "kafka property " + key + "=" + value + ": " + err;
  return false;
}

void log_cb(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // syslog levels; librdkafka logs a refused connection at 3 (LOG_ERR): a warning for us,
  // the state change is what matters.
  auto lvl = level <= 2   ? spdlog::level::err
             : level <= 4 ? spdlog::level::warn
             : level <= 6 ? spdlog::level::info
                          : spdlog::level::debug;
  spdlog::log(lvl, "kafka {}: {}: {}", rd_kafka_name(rk), fac, buf);
}

class kafka_bus final : public bus {
 public:
  kafka_bus(kafka_options o, parley::metrics& m) : opts_(std::move(o)), m_(m) {}

  ~kafka_bus() override {
    stop();
    if (producer_) {
      // Free what a publish racing stop() may still have queued.
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(producer_.get(), 0);
    }
    topic_.reset();
    if (consumer_) {
      // Nothing to commit or leave: the group is never joined.
      rd_kafka_destroy_flags(consumer_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    }
  }

  // Builds both clients; every property is checked here.
  bool init(std::string& why) {
    if (opts_.brokers.empty()) return fail_init(why, "kafka: no brokers given");
    if (opts_.topic.empty()) return fail_init(why, "kafka: empty topic name");
    if (opts_.node_id.empty()) return fail_init(why, "kafka: empty node id");
    if (opts_.partitions < 1) return fail_init(why, "kafka: partitions must be at least 1");
    if (opts_.replication < 1) return fail_init(why, "kafka: replication must be at least 1");
    std::vector<std::pair<std::string, std::string>> extra;
    for (const auto& kv : opts_.properties) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        why = "kafka property \"" + kv + "\": expected key=value";
        return false;
      }
      extra.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    }

    auto common = [&](rd_kafka_conf_t* c, const std::string& role) {
      rd_kafka_conf_set_opaque(c, this);
      rd_kafka_conf_set_log_cb(c, log_cb);
      rd_kafka_conf_set_error_cb(c, &kafka_bus::on_error);
      return set_prop(c, "bootstrap.servers", opts_.brokers, why) &&
             set_prop(c, "client.id", "parley-" + role + "-" + opts_.node_id, why) &&
             // Nagle adds up to 40 ms per hop with small records (kafka-notes.md).
             set_prop(c, "socket.nagle.disable", "true", why) &&
             // Come back within a second of a broker restart, not after 10 s of backoff.
             set_prop(c, "reconnect.backoff.max.ms", "1000", why) &&
             // start() creates the topic with the configured partitions; a broker-side
             // auto-creation (with the broker's defaults) must not win that race.
             set_prop(c, "allow.auto.create.topics", "false", why);
    };
    auto apply_extra = [&](rd_kafka_conf_t* c) {
      for (const auto& [k, v] : extra) {
        if (!set_prop(c, k, v, why)) return false;
      }
      return true;
    };

    conf_ptr pc(rd_kafka_conf_new());
    if (!common(pc.get(), "p") ||
        // Retries never duplicate or reorder within a partition; acks=all: a confirmed
        // record survives the loss of the leader (outbox rows are removed on that promise).
        !set_prop(pc.get(), "enable.idempotence", "true", why) ||
        !set_prop(pc.get(), "acks", "all", why) ||
        // Batching over the last millisecond: at 1-2 ms the producers and the broker spend
        // their CPU on small produce requests, which on a busy machine costs more p99 than
        // the wait saves; 5 ms (librdkafka's default) measured best at 1,000-4,000 sends/s
        // with the group commit pipelined, 10 ms no better (docs/bench/log.md).
        !set_prop(pc.get(), "linger.ms", "5", why) ||
        // The Java client's partitioner: a room lives on the same partition for producers
        // in any language (architecture.md, "Scaling past one firehose").
        !set_prop(pc.get(), "partitioner", "murmur2_random", why) || !apply_extra(pc.get())) {
      return false;
    }
    rd_kafka_conf_set_dr_msg_cb(pc.get(), &kafka_bus::on_delivery);

    conf_ptr cc(rd_kafka_conf_new());
    if (!common(cc.get(), "c") ||
        // Needed by librdkafka's consumer API; never joined (assign) nor committed to.
        !set_prop(cc.get(), "group.id", opts_.consumer_group_prefix + "." + opts_.node_id, why) ||
        !set_prop(cc.get(), "enable.auto.commit", "false", why) ||
        !set_prop(cc.get(), "enable.auto.offset.store", "false", why) ||
        !set_prop(cc.get(), "enable.partition.eof", "false", why) ||
        // An offset out of range (retention) jumps to the end: the store fills the gap.
        !set_prop(cc.get(), "auto.offset.reset", "latest", why) ||
        // A fetch returns as soon as a record is there, or after 10 ms: the default 500 ms
        // would be added to the cross-node latency of every idle partition's first record.
        !set_prop(cc.get(), "fetch.wait.max.ms", "10", why) ||
        !set_prop(cc.get(), "fetch.error.backoff.ms", "50", why) || !apply_extra(cc.get())) {
      return false;
    }

    char err[512];
    producer_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, pc.get(), err, sizeof err));
    if (!producer_) return fail_init(why, std::string("kafka producer: ") + err);
    pc.release();  // owned by the producer now
    consumer_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, cc.get(), err, sizeof err));
    if (!consumer_) return fail_init(why, std::string("kafka consumer: ") + err);
    cc.release();
    // Errors and logs of the consumer are served by rd_kafka_consumer_poll().
    rd_kafka_poll_set_consumer(consumer_.get());
    return true;
  }

  void set_subscriber(subscriber s) override { subscriber_ = std::move(s); }
  void set_delivery_callback(delivery_callback cb) override { delivered_ = std::move(cb); }

  result<void> start() override {
    std::lock_guard lock(life_mu_);
    if (stopped_.load()) return errc::closed;
    if (started_) return success();
    auto deadline = steady::now() + opts_.start_timeout;
    std::string why;
    int partitions = 0;
    if (!create_topic(deadline, why) || !make_topic_handle(why) ||
        !wait_topic(deadline, partitions, why) || !position(deadline, partitions, why)) {
      spdlog::error("kafka: start failed (brokers {}, topic {}): {}", opts_.brokers, opts_.topic,
                    why);
      return errc::unavailable;
    }
    set_up(true);
    started_ = true;
    poller_ = std::thread([this] { poll_loop(); });
    name_thread(poller_, "kafka-poll");
    reader_ = std::thread([this] { read_loop(); });
    name_thread(reader_, "kafka-read");
    spdlog::info("kafka: topic {} ({} partitions) on {}, node {}", opts_.topic, partitions,
                 opts_.brokers, opts_.node_id);
    return success();
  }

  void publish(record_ptr r) override {
    if (subscriber_) subscriber_(r);
    if (!started_once_.load(std::memory_order_acquire) || stopped_.load()) {
      fail(std::move(r), "bus not running");
      return;
    }
    std::string value = encode(*r);
    auto* f = new in_flight{r, steady::now()};
    if (rd_kafka_produce(topic_.get(), RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, value.data(),
                         value.size(), r->room.data(), r->room.size(), f) != 0) {
      auto e = rd_kafka_last_error();
      delete f;
      fail(std::move(r), rd_kafka_err2str(e));
    }
  }

  std::string state() const override { return up_.load() ? "up" : "down"; }

  void stop() override {
    std::lock_guard lock(life_mu_);
    if (stopped_.exchange(true)) return;
    if (poller_.joinable()) poller_.join();
    if (reader_.joinable()) reader_.join();
    if (started_) {
      // Give queued records a moment; what is left is reported not ok (the outbox has it).
      rd_kafka_flush(producer_.get(), static_cast<int>(opts_.stop_flush.count()));
      rd_kafka_purge(producer_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(producer_.get(), 0);
      rd_kafka_assign(consumer_.get(), nullptr);
    }
    drain_failed();
    set_up(false);
    m_.kafka_producer_queue.store(0);
    m_.kafka_consumer_lag.store(0);
  }

 private:
  // --- start ---

  bool create_topic(steady::time_point deadline, std::string& why) {
    char err[512];
    rd_kafka_NewTopic_t* nt = rd_kafka_NewTopic_new(opts_.topic.c_str(), opts_.partitions,
                                                    opts_.replication, err, sizeof err);
    if (!nt) return fail_init(why, std::string("topic spec: ") + err);
    rd_kafka_AdminOptions_t* ao =
        rd_kafka_AdminOptions_new(producer_.get(), RD_KAFKA_ADMIN_OP_CREATETOPICS);
    int left = std::max(remaining_ms(deadline), 1);
    rd_kafka_AdminOptions_set_request_timeout(ao, left, err, sizeof err);
    // The broker answers once the topic exists (or after this long).
    rd_kafka_AdminOptions_set_operation_timeout(ao, std::min(left, 10'000), err, sizeof err);
    rd_kafka_queue_t* q = rd_kafka_queue_new(producer_.get());
    rd_kafka_CreateTopics(producer_.get(), &nt, 1, ao, q);
    rd_kafka_event_t* ev = rd_kafka_queue_poll(q, left + 1000);
    bool ok = false;
    if (!ev) {
      why = "create topic: no answer";
    } else if (rd_kafka_event_error(ev)) {
      why = std::string("create topic: ") + rd_kafka_event_error_string(ev);
    } else {
      size_t n = 0;
      const rd_kafka_topic_result_t** res =
          rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
      auto e = n ? rd_kafka_topic_result_error(res[0]) : RD_KAFKA_RESP_ERR_NO_ERROR;
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
        ok = true;
        spdlog::info("kafka: created topic {} ({} partitions, replication {})", opts_.topic,
                     opts_.partitions, opts_.replication);
      } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
        ok = true;
      } else {
        // Not fatal by itself: a topic created by an operator (no create permission here)
        // is fine; wait_topic() decides.
        spdlog::warn("kafka: create topic {}: {}", opts_.topic,
                     rd_kafka_topic_result_error_string(res[0]));
        ok = true;
      }
    }
    if (ev) rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
    rd_kafka_NewTopic_destroy(nt);
    return ok;
  }

  // After create_topic(): a handle made earlier would fetch the topic's metadata at once,
  // racing the creation.
  bool make_topic_handle(std::string& why) {
    topic_.reset(rd_kafka_topic_new(producer_.get(), opts_.topic.c_str(), nullptr));
    if (!topic_) {
      why = "topic handle: " + std::string(rd_kafka_err2str(rd_kafka_last_error()));
      return false;
    }
    return true;
  }

  // Waits until the topic's metadata shows every partition with a leader.
  bool wait_topic(steady::time_point deadline, int& partitions, std::string& why) {
    why = "topic metadata: timed out";
    while (true) {
      const rd_kafka_metadata_t* md = nullptr;
      int left = remaining_ms(deadline);
      auto e = rd_kafka_metadata(producer_.get(), 0, topic_.get(), &md, std::clamp(left, 1, 2'000));
      if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
        why = std::string("topic metadata: ") + rd_kafka_err2str(e);
      } else {
        bool ready = false;
        if (md->topic_cnt == 1) {
          const auto& t = md->topics[0];
          ready = t.err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partition_cnt > 0;
          for (int i = 0; ready && i < t.partition_cnt; ++i) {
            ready =
                t.partitions[i].err == RD_KAFKA_RESP_ERR_NO_ERROR && t.partitions[i].leader >= 0;
          }
          if (ready) partitions = t.partition_cnt;
          if (t.err) why = std::string("topic metadata: ") + rd_kafka_err2str(t.err);
        }
        rd_kafka_metadata_destroy(md);
        if (ready) {
          if (partitions != opts_.partitions) {
            spdlog::warn("kafka: topic {} has {} partitions ({} configured)", opts_.topic,
                         partitions, opts_.partitions);
          }
          return true;
        }
      }
      if (remaining_ms(deadline) <= 0) return false;
      std::this_thread::sleep_for(milliseconds(100));
    }
  }

  // Resolves the end offset of every partition and assigns them there, so that any record
  // produced after start() returns is read.
  bool position(steady::time_point deadline, int partitions, std::string& why) {
    parts_ptr list;
    while (true) {
      list.reset(rd_kafka_topic_partition_list_new(partitions));
      for (int p = 0; p < partitions; ++p) {
        // offsets_for_times with timestamp -1 (RD_KAFKA_OFFSET_END) asks for the latest offset.
        rd_kafka_topic_partition_list_add(list.get(), opts_.topic.c_str(), p)->offset =
            RD_KAFKA_OFFSET_END;
      }
      int left = remaining_ms(deadline);
      auto e = rd_kafka_offsets_for_times(consumer_.get(), list.get(), std::clamp(left, 1, 5'000));
      for (int i = 0; e == RD_KAFKA_RESP_ERR_NO_ERROR && i < list->cnt; ++i) {
        e = list->elems[i].err;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[i].offset < 0) {
          e = RD_KAFKA_RESP_ERR__BAD_MSG;  // no offset in the answer
        }
      }
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      why = std::string("end offsets: ") + rd_kafka_err2str(e);
      if (remaining_ms(deadline) <= 0) return false;
      std::this_thread::sleep_for(milliseconds(100));
    }
    next_offset_.assign(partitions, 0);
    for (int i = 0; i < list->cnt; ++i)
      next_offset_[list->elems[i].partition] = list->elems[i].offset;
    // A policy that reads only the partitions of locally joined rooms would call
    // rd_kafka_incremental_assign() here per partition instead (architecture.md).
    auto e = rd_kafka_assign(consumer_.get(), list.get());
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      why = std::string("assign: ") + rd_kafka_err2str(e);
      return false;
    }
    started_once_.store(true, std::memory_order_release);
    return true;
  }

  // --- producer side ---

  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* self = static_cast<kafka_bus*>(opaque);
    std::unique_ptr<in_flight> f(static_cast<in_flight*>(m->_private));
    if (!f) return;
    bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
    self->m_.kafka_produce_latency.observe(
        std::chrono::duration<double>(steady::now() - f->sent).count());
    if (ok) {
      self->m_.kafka_records_produced.fetch_add(1, std::memory_order_relaxed);
    } else {
      self->m_.kafka_produce_failed.fetch_add(1, std::memory_order_relaxed);
      self->log_limited(spdlog::level::warn,
                        std::string("kafka: delivery failed: ") + rd_kafka_err2str(m->err));
    }
    if (f->rec->type == kind::message && self->delivered_) self->delivered_(f->rec, ok);
  }

  // A record that never reached the producer: reported not ok from the poll thread, or on
  // the calling thread once the bus is stopped (no poll thread left).
  void fail(record_ptr r, const char* reason) {
    m_.kafka_produce_failed.fetch_add(1, std::memory_order_relaxed);
    log_limited(spdlog::level::warn, std::string("kafka: not produced: ") + reason);
    if (r->type != kind::message || !delivered_) return;
    if (stopped_.load()) {
      delivered_(r, false);
      return;
    }
    std::lock_guard lock(failed_mu_);
    failed_.push_back(std::move(r));
  }

  void drain_failed() {
    std::deque<record_ptr> batch;
    {
      std::lock_guard lock(failed_mu_);
      batch.swap(failed_);
    }
    for (auto& r : batch) delivered_(r, false);
  }

  void poll_loop() {
    auto next_probe = steady::now() + milliseconds(2'000);
    while (!stopped_.load()) {
      rd_kafka_poll(producer_.get(), 50);
      drain_failed();
      m_.kafka_producer_queue.store(rd_kafka_outq_len(producer_.get()), std::memory_order_relaxed);
      if (steady::now() >= next_probe) {
        probe();
        next_probe = steady::now() + milliseconds(up_.load() ? 2'000 : 500);
      }
    }
  }

  // A metadata round trip: the broker connectivity behind state().
  void probe() {
    const rd_kafka_metadata_t* md = nullptr;
    auto e = rd_kafka_metadata(producer_.get(), 0, topic_.get(), &md, 1'000);
    if (md) rd_kafka_metadata_destroy(md);
    if (fatal_.load()) return;
    set_up(e == RD_KAFKA_RESP_ERR_NO_ERROR);
  }

  static void on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
    auto* self = static_cast<kafka_bus*>(opaque);
    auto e = static_cast<rd_kafka_resp_err_t>(err);
    if (e == RD_KAFKA_RESP_ERR__FATAL) {
      // The idempotent producer cannot go on (e.g. sequence lost): stay down, loudly.
      char buf[512];
      rd_kafka_fatal_error(rk, buf, sizeof buf);
      spdlog::error("kafka: fatal error: {}", buf);
      self->fatal_.store(true);
      self->set_up(false);
      return;
    }
    if (e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->set_up(false);
    // Connection failures are already in librdkafka's own log lines (log_cb).
    if (e == RD_KAFKA_RESP_ERR__TRANSPORT || e == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) return;
    self->log_limited(spdlog::level::warn,
                      fmt::format("kafka {}: {}", rd_kafka_name(rk), reason ? reason : ""));
  }

  // --- consumer side ---

  void read_loop() {
    auto next_lag = steady::now();
    while (!stopped_.load()) {
      rd_kafka_message_t* m = rd_kafka_consumer_poll(consumer_.get(), 100);
      if (m) {
        on_message(*m);
        rd_kafka_message_destroy(m);
      }
      if (steady::now() >= next_lag) {
        update_lag();
        next_lag = steady::now() + milliseconds(1'000);
      }
    }
  }

  void on_message(const rd_kafka_message_t& m) {
    if (m.err) {
      if (m.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) set_up(false);
      if (m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
        log_limited(spdlog::level::warn,
                    fmt::format("kafka consumer: {}", rd_kafka_message_errstr(&m)));
      }
      return;
    }
    m_.kafka_records_received.fetch_add(1, std::memory_order_relaxed);
    if (m.partition >= 0 && static_cast<std::size_t>(m.partition) < next_offset_.size()) {
      next_offset_[m.partition] = m.offset + 1;
    }
    if (!up_.load(std::memory_order_relaxed) && !fatal_.load()) set_up(true);
    std::string_view text(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
    auto r = decode(text);
    if (!r) {
      m_.kafka_bad_records.fetch_add(1, std::memory_order_relaxed);
      log_limited(spdlog::level::warn,
                  fmt::format("kafka: skipped a bad record at partition {} offset {}", m.partition,
                              m.offset));
      return;
    }
    if (r.value().node == opts_.node_id) {
      m_.kafka_own_records_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (subscriber_) subscriber_(std::make_shared<const record>(std::move(r).value()));
  }

  void update_lag() {
    std::int64_t lag = 0;
    for (std::size_t p = 0; p < next_offset_.size(); ++p) {
      std::int64_t lo = -1, hi = -1;
      // Cached from fetch responses: no network round trip.
      if (rd_kafka_get_watermark_offsets(consumer_.get(), opts_.topic.c_str(),
                                         static_cast<std::int32_t>(p), &lo,
                                         &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
          hi > next_offset_[p]) {
        lag += hi - next_offset_[p];
      }
    }
    m_.kafka_consumer_lag.store(lag, std::memory_order_relaxed);
  }

  // --- shared ---

  void set_up(bool up) {
    if (up_.exchange(up) != up) {
      if (up) {
        spdlog::info("kafka: up ({})", opts_.brokers);
      } else {
        spdlog::warn("kafka: down ({})", opts_.brokers);
      }
    }
    m_.kafka_up.store(up ? 1 : 0, std::memory_order_relaxed);
  }

  // At most one line per second per bus, so an outage does not flood the log.
  void log_limited(spdlog::level::level_enum lvl, const std::string& line) {
    auto now = steady::now().time_since_epoch().count();
    auto last = last_log_.load(std::memory_order_relaxed);
    constexpr std::int64_t second =
        std::chrono::duration_cast<steady::duration>(std::chrono::seconds(1)).count();
    if (now - last < second || !last_log_.compare_exchange_strong(last, now)) {
      suppressed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto n = suppressed_.exchange(0);
    if (n) {
      spdlog::log(lvl, "{} (and {} more since the last report)", line, n);
    } else {
      spdlog::log(lvl, "{}", line);
    }
  }

  kafka_options opts_;
  parley::metrics& m_;
  subscriber subscriber_;
  delivery_callback delivered_;
  rk_ptr producer_;
  rk_ptr consumer_;
  topic_ptr topic_;
  std::mutex life_mu_;  // start() / stop()
  bool started_ = false;
  std::atomic<bool> started_once_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> up_{false};
  std::atomic<bool> fatal_{false};
  std::thread poller_;
  std::thread reader_;
  std::mutex failed_mu_;
  std::deque<record_ptr> failed_;
  std::vector<std::int64_t> next_offset_;  // per partition; consumer thread only after start
  std::atomic<std::int64_t> last_log_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

}  // namespace

result<std::unique_ptr<bus>> make_kafka_bus(const kafka_options& opts, std::string& why) {
  auto b = std::make_unique<kafka_bus>(opts, opts.metrics ? *opts.metrics : global_metrics());
  if (!b->init(why)) return std::make_error_code(std::errc::invalid_argument);
  return std::unique_ptr<bus>(std::move(b));
}

result<std::unique_ptr<bus>> make_kafka_bus(const kafka_options& opts) {
  std::string why;
  auto r = make_kafka_bus(opts, why);
  if (!r) spdlog::error("{}", why);
  return r;
}

}  // namespace parley::bus
