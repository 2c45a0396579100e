#pragma once
// Internal to the Kafka bus: the producer side. One librdkafka producer (idempotent,
// acks=all, keyed by room with the Java client's partitioner), the topic handle, the poll
// thread that serves delivery reports and probes the brokers (the link's up/down), and the
// records that never reached the producer, reported not ok.
//
// Threads: produce() from any thread; delivery reports on the poll thread ("kafka-poll");
// init(), make_topic_handle(), start() and the stop steps from the bus's controlling thread.
#include <deque>
#include <mutex>
#include <thread>

#include "bus/kafka_link.h"

namespace parley::bus::kafka {

class producer final : public client {
 public:
  explicit producer(link& l) : client(l) {}
  ~producer() override;

  bool init(const std::vector<std::pair<std::string, std::string>>& extra, std::string& why);
  rd_kafka_t* handle() const { return rk_.get(); }
  // After create_topic(): a handle made earlier would fetch the topic's metadata at once,
  // racing the creation.
  bool make_topic_handle(std::string& why);
  rd_kafka_topic_t* topic() const { return topic_.get(); }
  void set_delivery_callback(bus::delivery_callback cb) { delivered_ = std::move(cb); }

  void start();
  // Produces `r` keyed by its room; never blocks. Before start() or once the link is
  // stopped, or with a full queue, `r` is reported not ok instead.
  void produce(record_ptr r);

  // Stop steps, in this order, once the link is stopped: the poll thread ends; what is
  // queued gets `flush` to reach the brokers and the rest is purged (reported not ok); the
  // records that never reached the producer are reported not ok.
  void join_thread();
  void flush_and_purge(milliseconds flush);
  void report_failed();

 private:
  static void on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  void fail(record_ptr r, const char* reason);
  void poll_loop();
  void probe();

  rk_ptr rk_;
  topic_ptr topic_;
  bus::delivery_callback delivered_;
  std::thread poller_;
  std::mutex failed_mu_;
  std::deque<record_ptr> failed_;
};

}  // namespace parley::bus::kafka
