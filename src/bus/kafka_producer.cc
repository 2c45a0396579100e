#include "bus/kafka_producer.h"

#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::bus::kafka {
namespace {

// What a produced record carries through librdkafka to its delivery report.
struct in_flight {
  record_ptr rec;
  steady::time_point sent;
};

}  // namespace

producer::~producer() {
  if (rk_) {
    // Free what a publish racing stop() may still have queued.
    rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_.get(), 0);
  }
  topic_.reset();
}

bool producer::init(const std::vector<std::pair<std::string, std::string>>& extra,
                    std::string& why) {
  conf_ptr pc(rd_kafka_conf_new());
  if (!configure_common(pc.get(), *this, "p", why) ||
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
      // in any language (docs/architecture.md, "Scaling past one firehose").
      !set_prop(pc.get(), "partitioner", "murmur2_random", why) ||
      !apply_extra(pc.get(), extra, why)) {
    return false;
  }
  rd_kafka_conf_set_dr_msg_cb(pc.get(), &producer::on_delivery);
  char err[512];
  rk_.reset(rd_kafka_new(RD_KAFKA_PRODUCER, pc.get(), err, sizeof err));
  if (!rk_) return fail_init(why, std::string("kafka producer: ") + err);
  pc.release();  // owned by the producer now
  return true;
}

bool producer::make_topic_handle(std::string& why) {
  topic_.reset(rd_kafka_topic_new(rk_.get(), bus_link.opts.topic.c_str(), nullptr));
  if (!topic_) {
    why = "topic handle: " + std::string(rd_kafka_err2str(rd_kafka_last_error()));
    return false;
  }
  return true;
}

void producer::start() {
  poller_ = std::thread([this] { poll_loop(); });
  name_thread(poller_, "kafka-poll");
}

void producer::produce(record_ptr r) {
  if (!bus_link.running.load(std::memory_order_acquire) || bus_link.stopped.load()) {
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

void producer::join_thread() {
  if (poller_.joinable()) poller_.join();
}

void producer::flush_and_purge(milliseconds flush) {
  // Give queued records a moment; what is left is reported not ok (the outbox has it).
  rd_kafka_flush(rk_.get(), static_cast<int>(flush.count()));
  rd_kafka_purge(rk_.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_.get(), 0);
}

void producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<producer*>(static_cast<client*>(opaque));
  auto& l = self->bus_link;
  std::unique_ptr<in_flight> f(static_cast<in_flight*>(m->_private));
  if (!f) return;
  bool ok = m->err == RD_KAFKA_RESP_ERR_NO_ERROR;
  l.m.kafka_produce_latency.observe(std::chrono::duration<double>(steady::now() - f->sent).count());
  if (ok) {
    l.m.kafka_records_produced.fetch_add(1, std::memory_order_relaxed);
  } else {
    l.m.kafka_produce_failed.fetch_add(1, std::memory_order_relaxed);
    l.log_limited(spdlog::level::warn,
                  std::string("kafka: delivery failed: ") + rd_kafka_err2str(m->err));
  }
  if (f->rec->type == kind::message && self->delivered_) self->delivered_(f->rec, ok);
}

// A record that never reached the producer: reported not ok from the poll thread, or on
// the calling thread once the bus is stopped (no poll thread left).
void producer::fail(record_ptr r, const char* reason) {
  bus_link.m.kafka_produce_failed.fetch_add(1, std::memory_order_relaxed);
  bus_link.log_limited(spdlog::level::warn, std::string("kafka: not produced: ") + reason);
  if (r->type != kind::message || !delivered_) return;
  if (bus_link.stopped.load()) {
    delivered_(r, false);
    return;
  }
  std::lock_guard lock(failed_mu_);
  failed_.push_back(std::move(r));
}

void producer::report_failed() {
  std::deque<record_ptr> batch;
  {
    std::lock_guard lock(failed_mu_);
    batch.swap(failed_);
  }
  for (auto& r : batch) delivered_(r, false);
}

void producer::poll_loop() {
  auto next_probe = steady::now() + milliseconds(2'000);
  while (!bus_link.stopped.load()) {
    rd_kafka_poll(rk_.get(), 50);
    report_failed();
    bus_link.m.kafka_producer_queue.store(rd_kafka_outq_len(rk_.get()), std::memory_order_relaxed);
    if (steady::now() >= next_probe) {
      probe();
      next_probe = steady::now() + milliseconds(bus_link.up() ? 2'000 : 500);
    }
  }
}

// A metadata round trip: the broker connectivity behind the bus's state().
void producer::probe() {
  const rd_kafka_metadata_t* md = nullptr;
  auto e = rd_kafka_metadata(rk_.get(), 0, topic_.get(), &md, 1'000);
  if (md) rd_kafka_metadata_destroy(md);
  if (bus_link.fatal.load()) return;
  bus_link.set_up(e == RD_KAFKA_RESP_ERR_NO_ERROR);
}

}  // namespace parley::bus::kafka
