#pragma once
// kafka_bus: the cluster bus on Apache Kafka (librdkafka), docs/architecture.md "Kafka
// specifics". Built of kafka_link, kafka_admin, kafka_producer and kafka_consumer (one file
// each, by role).
//
// publish() hands the record to the subscriber synchronously on the calling thread (local
// delivery never waits for Kafka), then produces it, keyed by room, to the topic and
// returns without blocking: a full producer queue or a stopped bus is counted and reported
// to the delivery callback as not ok, so the outbox relay publishes the message again later.
// Delivery reports run the delivery callback (`message` records only) on the bus's poll
// thread, except the reports of records still queued when stop() runs: those run on the
// thread calling stop(), ok if flushed within `stop_flush`, not ok otherwise; a publish()
// after stop() is reported not ok on the publishing thread.
//
// Producer settings: enable.idempotence (retries never duplicate or reorder within a
// partition), acks=all, linger.ms=5, socket.nagle.disable, partitioner=murmur2_random (the
// Java client's, so any language agrees on a room's partition), message.timeout.ms left at
// librdkafka's 5 minutes: records published during a short outage arrive when the broker
// returns; beyond that the outbox relay publishes them again.
//
// The consumer reads every partition of the topic on its own thread, starting at the end
// offsets resolved in start(): no committed offsets are used, the store fills gaps. Records
// that do not decode are counted and skipped; records whose `node` is this node's id are
// dropped (they were delivered locally at publish time); the others go to the subscriber,
// which must not block.
//
// state(): "up" while a broker answers (metadata probes, error callbacks such as
// ALL_BROKERS_DOWN turn it "down"); "down" before start() and after stop().
#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/result.h"
#include "bus/bus.h"

namespace parley {
struct metrics;
}

namespace parley::bus {

struct kafka_options {
  std::string brokers;  // bootstrap servers, comma separated ("127.0.0.1:9092,...")
  std::string topic = "parley.messages";
  int partitions = 12;  // used when start() creates the topic
  int replication = 1;  // idem
  std::string node_id;  // written into every record; records carrying it are ours
  // librdkafka properties as "key=value" (security.protocol, sasl.*, ssl.*, ...), applied to
  // the producer, the consumer and the admin requests, after parley's own settings (so they
  // may override them). A malformed entry or a key/value librdkafka rejects fails
  // make_kafka_bus() with a message naming it.
  std::vector<std::string> properties;
  // The consumer's group.id is prefix + "." + node_id. It is never joined (partitions are
  // assigned explicitly) nor committed to; it only names the node on the brokers.
  std::string consumer_group_prefix = "parley";
  // How long start() waits for topic creation, metadata and end offsets.
  std::chrono::milliseconds start_timeout{30'000};
  // How long stop() waits for records still queued in the producer.
  std::chrono::milliseconds stop_flush{2'000};
  // Where counters go; nullptr: global_metrics(). Tests pass their own per bus.
  parley::metrics* metrics = nullptr;
};

// Validates the options and builds the librdkafka clients (they may connect at once; no
// record is produced or consumed before start()). start() creates the topic if missing,
// waits for its metadata and the end offset of every partition, assigns them, and fails
// with errc::unavailable (the reason logged) after start_timeout. Errors:
// std::errc::invalid_argument for bad options or properties, with a readable reason in `why` (the
// overload without `why` logs it).
result<std::unique_ptr<bus>> make_kafka_bus(const kafka_options& opts, std::string& why);
result<std::unique_ptr<bus>> make_kafka_bus(const kafka_options& opts);

}  // namespace parley::bus
