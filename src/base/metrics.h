#pragma once
// Process-wide metrics, rendered in Prometheus text format by /metrics.
// Every member is lock-free or internally locked: update from any thread.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace parley {

// A histogram with fixed bucket bounds in seconds (Prometheus `le` semantics).
class histogram {
 public:
  static constexpr std::array<double, 14> bounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  void observe(double seconds) noexcept;
  void render(std::string& out, const std::string& name, const std::string& help) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_micros_{0};
};

// A counter with one label whose values are discovered at run time (e.g. error codes).
class labeled_counter {
 public:
  void inc(const std::string& label_value, std::uint64_t n = 1);
  void render(std::string& out, const std::string& name, const std::string& label,
              const std::string& help) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> values_;
};

struct metrics {
  std::atomic<std::int64_t> connections{0};            // gauge: open WebSocket sessions
  std::atomic<std::uint64_t> connections_total{0};     // accepted upgrades
  std::atomic<std::uint64_t> messages_stored{0};       // new rows committed (not repeats)
  std::atomic<std::uint64_t> messages_delivered{0};    // `message` frames queued to sessions
  std::atomic<std::uint64_t> messages_dropped{0};      // frames discarded by overflowed queues
  std::atomic<std::uint64_t> slow_consumer_closes{0};  // sessions closed with 1008 on overflow
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> gap_fills{0};             // range reads issued by the router
  std::atomic<std::uint64_t> duplicates_dropped{0};    // records at or below a session's seq
  labeled_counter errors;                              // error frames / HTTP errors by code
  std::atomic<std::int64_t> store_queue{0};            // gauge: store calls waiting for a thread
  std::atomic<std::int64_t> store_busy{0};             // gauge: store calls running
  std::atomic<std::uint64_t> store_queue_rejected{0};  // refused: that queue was full
  histogram store_append_latency;                      // queue + commit, per append
  // cluster bus (src/bus/kafka_bus.cc) and outbox relay (src/relay/outbox_relay.cc)
  std::atomic<std::int64_t> kafka_up{0};                    // gauge: 1 while a broker answers
  std::atomic<std::int64_t> kafka_producer_queue{0};        // gauge: records awaiting a report
  std::atomic<std::int64_t> kafka_consumer_lag{0};          // gauge: records behind the ends
  std::atomic<std::uint64_t> kafka_records_produced{0};     // delivery reports ok
  std::atomic<std::uint64_t> kafka_produce_failed{0};       // queue full, stopped, report failed
  std::atomic<std::uint64_t> kafka_records_received{0};     // records read from the topic
  std::atomic<std::uint64_t> kafka_bad_records{0};          // records that did not decode
  std::atomic<std::uint64_t> kafka_own_records_dropped{0};  // this node's records read back
  histogram kafka_produce_latency;                          // publish -> delivery report
  std::atomic<std::uint64_t> outbox_republished{0};         // records the relay published
  std::atomic<std::uint64_t> outbox_confirmed{0};           // outbox rows removed

  std::string render() const;
};

// The process's metrics. Created on first use; never destroyed before exit.
metrics& global_metrics();

}  // namespace parley
