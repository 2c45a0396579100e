#pragma once
// Internal to the Kafka bus (kafka_bus.h): what its pieces share. The librdkafka handle
// types, the configuration every client gets, and `link`: the state of one bus's
// connection to Kafka (running, stopped, up, fatal), its metrics and its rate-limited log,
// which the producer (kafka_producer.h), the consumer (kafka_consumer.h) and the topic
// administration (kafka_admin.h) report to.
//
// Threads: link's members are atomics or internally synchronised: any thread.
#include <librdkafka/rdkafka.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "bus/kafka_bus.h"

namespace parley::bus::kafka {

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

// Milliseconds left until `deadline` (0 when past it).
int remaining_ms(steady::time_point deadline);
// Sets `why` to `reason`; false.
bool fail_init(std::string& why, std::string reason);
bool set_prop(rd_kafka_conf_t* c, const std::string& key, const std::string& value,
              std::string& why);

// One bus's connection state, shared by its clients.
class link {
 public:
  link(const kafka_options& opts, parley::metrics& m) : opts(opts), m(m) {}

  const kafka_options& opts;
  parley::metrics& m;
  std::atomic<bool> running{false};  // start() positioned the consumer: records may flow
  std::atomic<bool> stopped{false};
  std::atomic<bool> fatal{false};  // the idempotent producer cannot go on

  bool up() const { return up_.load(); }
  void set_up(bool up);
  // At most one line per second per bus, so an outage does not flood the log.
  void log_limited(spdlog::level::level_enum lvl, const std::string& line);

 private:
  std::atomic<bool> up_{false};
  std::atomic<std::int64_t> last_log_{0};
  std::atomic<std::uint64_t> suppressed_{0};
};

// A client of the bus (producer or consumer): librdkafka's callbacks get it as their
// opaque and find the link through it.
struct client {
  explicit client(link& l) : bus_link(l) {}
  virtual ~client() = default;
  link& bus_link;
};

// A new configuration with what every client of the bus gets: brokers, a client id for
// `role` ("p", "c"), Nagle off, a short reconnect backoff, no topic auto-creation, the log
// and error callbacks reporting to `owner`; then the caller's own settings, then `extra`
// (the operator's properties, which may override them) with apply_extra().
bool configure_common(rd_kafka_conf_t* c, client& owner, const std::string& role, std::string& why);
bool apply_extra(rd_kafka_conf_t* c, const std::vector<std::pair<std::string, std::string>>& extra,
                 std::string& why);

}  // namespace parley::bus::kafka
