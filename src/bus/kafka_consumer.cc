#include "bus/kafka_consumer.h"

#include <fmt/format.h>

#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::bus::kafka {

consumer::~consumer() {
  // Nothing to commit or leave: the group is never joined.
  if (rk_) rd_kafka_destroy_flags(rk_.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
}

bool consumer::init(const std::vector<std::pair<std::string, std::string>>& extra,
                    std::string& why) {
  const auto& o = bus_link.opts;
  conf_ptr cc(rd_kafka_conf_new());
  if (!configure_common(cc.get(), *this, "c", why) ||
      // Needed by librdkafka's consumer API; never joined (assign) nor committed to.
      !set_prop(cc.get(), "group.id", o.consumer_group_prefix + "." + o.node_id, why) ||
      !set_prop(cc.get(), "enable.auto.commit", "false", why) ||
      !set_prop(cc.get(), "enable.auto.offset.store", "false", why) ||
      !set_prop(cc.get(), "enable.partition.eof", "false", why) ||
      // An offset out of range (retention) jumps to the end: the store fills the gap.
      !set_prop(cc.get(), "auto.offset.reset", "latest", why) ||
      // A fetch returns as soon as a record is there, or after 10 ms: the default 500 ms
      // would be added to the cross-node latency of every idle partition's first record.
      !set_prop(cc.get(), "fetch.wait.max.ms", "10", why) ||
      !set_prop(cc.get(), "fetch.error.backoff.ms", "50", why) ||
      !apply_extra(cc.get(), extra, why)) {
    return false;
  }
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_CONSUMER, cc.get(), err, sizeof err));
  if (!rk_) return fail_init(why, std::string("kafka consumer: ") + err);
  cc.release();
  // Errors and logs of the consumer are served by rd_kafka_consumer_poll().
  rd_kafka_poll_set_consumer(rk_.get());
  return true;
}

bool consumer::assign(const rd_kafka_topic_partition_list_t& list, std::string& why) {
  next_offset_.assign(static_cast<std::size_t>(list.cnt), 0);
  for (int i = 0; i < list.cnt; ++i) {
    auto p = list.elems[i].partition;
    if (p >= 0 && static_cast<std::size_t>(p) < next_offset_.size())
      next_offset_[static_cast<std::size_t>(p)] = list.elems[i].offset;
  }
  // A policy that reads only the partitions of locally joined rooms would call
  // rd_kafka_incremental_assign() here per partition instead (docs/architecture.md).
  auto e = rd_kafka_assign(rk_.get(), &list);
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    why = std::string("assign: ") + rd_kafka_err2str(e);
    return false;
  }
  return true;
}

void consumer::start() {
  reader_ = std::thread([this] { read_loop(); });
  name_thread(reader_, "kafka-read");
}

void consumer::join_thread() {
  if (reader_.joinable()) reader_.join();
}

void consumer::unassign() { rd_kafka_assign(rk_.get(), nullptr); }

void consumer::read_loop() {
  auto next_lag = steady::now();
  while (!bus_link.stopped.load()) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk_.get(), 100);
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

void consumer::on_message(const rd_kafka_message_t& m) {
  auto& l = bus_link;
  if (m.err) {
    if (m.err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) l.set_up(false);
    if (m.err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      l.log_limited(spdlog::level::warn,
                    fmt::format("kafka consumer: {}", rd_kafka_message_errstr(&m)));
    }
    return;
  }
  l.m.kafka_records_received.fetch_add(1, std::memory_order_relaxed);
  if (m.partition >= 0 && static_cast<std::size_t>(m.partition) < next_offset_.size()) {
    next_offset_[m.partition] = m.offset + 1;
  }
  if (!l.up() && !l.fatal.load()) l.set_up(true);
  std::string_view text(static_cast<const char*>(m.payload), m.payload ? m.len : 0);
  auto r = decode(text);
  if (!r) {
    l.m.kafka_bad_records.fetch_add(1, std::memory_order_relaxed);
    l.log_limited(spdlog::level::warn,
                  fmt::format("kafka: skipped a bad record at partition {} offset {}", m.partition,
                              m.offset));
    return;
  }
  if (r.value().node == l.opts.node_id) {
    l.m.kafka_own_records_dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (subscriber_) subscriber_(std::make_shared<const record>(std::move(r).value()));
}

void consumer::update_lag() {
  std::int64_t lag = 0;
  for (std::size_t p = 0; p < next_offset_.size(); ++p) {
    std::int64_t lo = -1, hi = -1;
    // Cached from fetch responses: no network round trip.
    if (rd_kafka_get_watermark_offsets(rk_.get(), bus_link.opts.topic.c_str(),
                                       static_cast<std::int32_t>(p), &lo,
                                       &hi) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        hi > next_offset_[p]) {
      lag += hi - next_offset_[p];
    }
  }
  bus_link.m.kafka_consumer_lag.store(lag, std::memory_order_relaxed);
}

}  // namespace parley::bus::kafka
