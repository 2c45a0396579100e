// The Kafka bus (kafka_bus.h), composed of its pieces by role: the link they share
// (kafka_link.h), the topic's administration at start (kafka_admin.h), the producer
// (kafka_producer.h) and the consumer (kafka_consumer.h).
#include "bus/kafka_bus.h"

#include <mutex>

#include "base/metrics.h"
#include "bus/kafka_admin.h"
#include "bus/kafka_consumer.h"
#include "bus/kafka_link.h"
#include "bus/kafka_producer.h"

namespace parley::bus {
namespace {

class kafka_bus final : public bus {
 public:
  kafka_bus(kafka_options o, parley::metrics& m)
      : opts_(std::move(o)), link_(opts_, m), producer_(link_), consumer_(link_) {}

  ~kafka_bus() override { stop(); }

  // Builds both clients; every property is checked here.
  bool init(std::string& why) {
    using kafka::fail_init;
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
    return producer_.init(extra, why) && consumer_.init(extra, why);
  }

  void set_subscriber(subscriber s) override {
    subscriber_ = s;
    consumer_.set_subscriber(std::move(s));
  }
  void set_delivery_callback(delivery_callback cb) override {
    producer_.set_delivery_callback(std::move(cb));
  }

  result<void> start() override {
    std::lock_guard lock(life_mu_);
    if (link_.stopped.load()) return errc::closed;
    if (started_) return success();
    auto deadline = kafka::steady::now() + opts_.start_timeout;
    std::string why;
    int partitions = 0;
    if (!kafka::create_topic(producer_.handle(), opts_, deadline, why) ||
        !producer_.make_topic_handle(why) ||
        !kafka::wait_topic(producer_.handle(), producer_.topic(), opts_, deadline, partitions,
                           why) ||
        !position(deadline, partitions, why)) {
      spdlog::error("kafka: start failed (brokers {}, topic {}): {}", opts_.brokers, opts_.topic,
                    why);
      return errc::unavailable;
    }
    link_.set_up(true);
    started_ = true;
    producer_.start();
    consumer_.start();
    spdlog::info("kafka: topic {} ({} partitions) on {}, node {}", opts_.topic, partitions,
                 opts_.brokers, opts_.node_id);
    return success();
  }

  void publish(record_ptr r) override {
    if (subscriber_) subscriber_(r);
    producer_.produce(std::move(r));
  }

  std::string state() const override { return link_.up() ? "up" : "down"; }

  void stop() override {
    std::lock_guard lock(life_mu_);
    if (link_.stopped.exchange(true)) return;
    producer_.join_thread();
    consumer_.join_thread();
    if (started_) {
      producer_.flush_and_purge(opts_.stop_flush);
      consumer_.unassign();
    }
    producer_.report_failed();
    link_.set_up(false);
    link_.m.kafka_producer_queue.store(0);
    link_.m.kafka_consumer_lag.store(0);
  }

 private:
  // Assigns every partition at its end offset, so that any record produced after start()
  // returns is read; records may flow from then on.
  bool position(kafka::steady::time_point deadline, int partitions, std::string& why) {
    auto list = kafka::end_offsets(consumer_.handle(), opts_.topic, partitions, deadline, why);
    if (!list || !consumer_.assign(*list, why)) return false;
    link_.running.store(true, std::memory_order_release);
    return true;
  }

  kafka_options opts_;
  kafka::link link_;
  kafka::producer producer_;
  kafka::consumer consumer_;
  subscriber subscriber_;
  std::mutex life_mu_;  // start() / stop()
  bool started_ = false;
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
