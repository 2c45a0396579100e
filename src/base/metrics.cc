#include "base/metrics.h"

#include <fmt/format.h>

namespace parley {

void histogram::observe(double seconds) noexcept {
  std::size_t i = 0;
  while (i < bounds.size() && seconds > bounds[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_micros_.fetch_add(static_cast<std::uint64_t>(seconds * 1e6), std::memory_order_relaxed);
}

void histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds[i], cumulative);
  }
  cumulative += buckets_[bounds.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, cumulative);
  out += fmt::format("{}_sum {}\n", name, sum_micros_.load(std::memory_order_relaxed) / 1e6);
  out += fmt::format("{}_count {}\n", name, count_.load(std::memory_order_relaxed));
}

void labeled_counter::inc(const std::string& label_value, std::uint64_t n) {
  std::lock_guard lock(mu_);
  values_[label_value] += n;
}

void labeled_counter::render(std::string& out, const std::string& name, const std::string& label,
                             const std::string& help) const {
  out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
  std::lock_guard lock(mu_);
  for (const auto& [k, v] : values_) out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label, k, v);
}

namespace {
template <class T>
void one(std::string& out, const char* name, const char* type, const char* help, const T& v) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name,
                     v.load(std::memory_order_relaxed));
}
}  // namespace

std::string metrics::render() const {
  std::string out;
  one(out, "parley_connections", "gauge", "Open WebSocket connections.", connections);
  one(out, "parley_connections_total", "counter", "WebSocket connections accepted.",
      connections_total);
  one(out, "parley_messages_stored_total", "counter", "Messages durably stored.", messages_stored);
  one(out, "parley_messages_delivered_total", "counter", "Message frames written to connections.",
      messages_delivered);
  one(out, "parley_messages_dropped_total", "counter",
      "Frames discarded because a connection's send queue overflowed.", messages_dropped);
  one(out, "parley_slow_consumer_closes_total", "counter",
      "Connections closed with 1008 because their send queue overflowed.", slow_consumer_closes);
  one(out, "parley_http_requests_total", "counter", "HTTP requests served.", http_requests);
  one(out, "parley_gap_fills_total", "counter", "Gaps in a room's sequence filled from the store.",
      gap_fills);
  one(out, "parley_duplicates_dropped_total", "counter",
      "Records dropped because a connection had already seen them.", duplicates_dropped);
  errors.render(out, "parley_errors_total", "code", "Errors answered, by wire code.");
  one(out, "parley_store_queue", "gauge",
      "Store calls (joins, history, reads, HTTP API) waiting for a store thread.", store_queue);
  one(out, "parley_store_busy", "gauge", "Store threads running a store call.", store_busy);
  one(out, "parley_store_queue_rejected_total", "counter",
      "Store calls answered `unavailable` at once because that queue was full.",
      store_queue_rejected);
  store_append_latency.render(out, "parley_store_append_seconds",
                              "Time from queueing an append to its commit.");
  one(out, "parley_kafka_up", "gauge", "1 while a Kafka broker answers, else 0.", kafka_up);
  one(out, "parley_kafka_producer_queue", "gauge",
      "Records handed to the Kafka producer and not yet acknowledged.", kafka_producer_queue);
  one(out, "parley_kafka_consumer_lag", "gauge",
      "Records between the consumer's positions and the partitions' high watermarks.",
      kafka_consumer_lag);
  one(out, "parley_kafka_records_produced_total", "counter",
      "Records the Kafka brokers acknowledged.", kafka_records_produced);
  one(out, "parley_kafka_produce_failed_total", "counter",
      "Records not produced: queue full, bus stopped or delivery failed.", kafka_produce_failed);
  one(out, "parley_kafka_records_received_total", "counter", "Records read from the topic.",
      kafka_records_received);
  one(out, "parley_kafka_bad_records_total", "counter",
      "Records read from the topic that did not decode and were skipped.", kafka_bad_records);
  one(out, "parley_kafka_own_records_dropped_total", "counter",
      "This node's own records read back from the topic and dropped.", kafka_own_records_dropped);
  kafka_produce_latency.render(out, "parley_kafka_produce_seconds",
                               "Time from publishing a record to its delivery report.");
  one(out, "parley_outbox_republished_total", "counter",
      "Stored messages the outbox relay published again.", outbox_republished);
  one(out, "parley_outbox_confirmed_total", "counter",
      "Outbox rows removed after the bus acknowledged their record.", outbox_confirmed);
  return out;
}

metrics& global_metrics() {
  static metrics* m = new metrics();
  return *m;
}

}  // namespace parley
