#pragma once
// Internal to the Kafka bus: the topic's administration at start (kafka_bus.h, start()).
// Each call blocks until it is done or `deadline` passes; `why` says what failed.
// Threads: the thread calling kafka_bus::start().
#include "bus/kafka_link.h"

namespace parley::bus::kafka {

// Creates the topic with the configured partitions and replication. An existing topic, or
// a refusal for want of permission, is fine (wait_topic() decides); false only when the
// brokers do not answer or refuse the request itself.
bool create_topic(rd_kafka_t* rk, const kafka_options& opts, steady::time_point deadline,
                  std::string& why);

// Waits until the topic's metadata shows every partition with a leader; sets `partitions`.
bool wait_topic(rd_kafka_t* rk, rd_kafka_topic_t* topic, const kafka_options& opts,
                steady::time_point deadline, int& partitions, std::string& why);

// The end offset of every partition of the topic (retrying until `deadline`), to start
// reading at; null on failure.
parts_ptr end_offsets(rd_kafka_t* consumer, const std::string& topic, int partitions,
                      steady::time_point deadline, std::string& why);

}  // namespace parley::bus::kafka
