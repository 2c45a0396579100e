#pragma once
// Internal to the Kafka bus: the consumer side. One librdkafka consumer assigned every
// partition of the topic explicitly (no group is joined, nothing committed), its read
// thread, which hands decoded records of other nodes to the subscriber, and the lag.
//
// Threads: records reach the subscriber on the read thread ("kafka-read"); init(),
// assign(), start() and the stop steps from the bus's controlling thread.
#include <thread>
#include <vector>

#include "bus/kafka_link.h"

namespace parley::bus::kafka {

class consumer final : public client {
 public:
  explicit consumer(link& l) : client(l) {}
  ~consumer() override;

  bool init(const std::vector<std::pair<std::string, std::string>>& extra, std::string& why);
  rd_kafka_t* handle() const { return rk_.get(); }
  void set_subscriber(bus::subscriber s) { subscriber_ = std::move(s); }

  // Reads every partition of `list` from its offset on.
  bool assign(const rd_kafka_topic_partition_list_t& list, std::string& why);
  void start();
  // Stop steps, once the link is stopped: the read thread ends; the partitions are released.
  void join_thread();
  void unassign();

 private:
  void read_loop();
  void on_message(const rd_kafka_message_t& m);
  void update_lag();

  rk_ptr rk_;
  bus::subscriber subscriber_;
  std::thread reader_;
  std::vector<std::int64_t> next_offset_;  // per partition; read thread only after start()
};

}  // namespace parley::bus::kafka
