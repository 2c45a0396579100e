#include "app/options.h"

#include <algorithm>
#include <thread>

namespace parley::app {

node_options options_from(const config::config& cfg, const std::string& dev_secret,
                          const std::string& default_web_root) {
  node_options o;
  o.cluster = !cfg.kafka_brokers.empty();

  auto& v = o.verifier;
  v.hs256_secret = cfg.dev && !dev_secret.empty() ? std::optional(dev_secret) : cfg.jwt_secret;
  v.public_key_pem = cfg.jwt_public_key_pem;
  v.issuer = cfg.jwt_issuer;
  v.audience = cfg.jwt_audience;
  v.skew_ms = cfg.jwt_skew_ms;

  auto& s = o.store;
  s.url = cfg.db;
  s.readers = cfg.store_readers;
  s.outbox = o.cluster;
  if (cfg.commit_interval_us)
    s.commit_interval = std::chrono::microseconds(*cfg.commit_interval_us);

  auto& n = o.net;
  n.host = cfg.listen_host;
  n.port = cfg.listen_port;
  n.threads = cfg.threads > 0 ? cfg.threads
                              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  n.max_frame_bytes = cfg.max_frame_bytes;
  n.send_queue_bytes = cfg.send_queue_bytes;
  n.send_queue_messages = cfg.send_queue_messages;
  n.ping_interval_s = cfg.ping_interval_s;
  n.idle_timeout_s = cfg.idle_timeout_s;
  n.io_uring = !cfg.no_io_uring;
  n.dev = cfg.dev;
  n.dev_secret = cfg.dev ? dev_secret : std::string();
  n.web_root = cfg.web_root.empty() ? default_web_root : cfg.web_root;

  auto& c = o.chat;
  c.max_text_bytes = cfg.max_text_bytes;
  c.send_rate = cfg.send_rate;
  c.frame_rate = cfg.frame_rate;
  c.replay_max = cfg.replay_max;
  c.max_room_members = cfg.max_room_members;
  c.gap_wait_ms = cfg.gap_wait_ms;
  c.jwt_skew_ms = cfg.jwt_skew_ms;
  c.blocking_threads = std::max(2, cfg.store_readers);
  c.store_queue = cfg.store_queue;

  auto& k = o.kafka;
  for (const auto& br : cfg.kafka_brokers) k.brokers += (k.brokers.empty() ? "" : ",") + br;
  k.topic = cfg.kafka_topic;
  k.partitions = cfg.kafka_partitions;
  k.replication = cfg.kafka_replication;
  k.properties = cfg.kafka_options;

  set_node_id(o, cfg.node_id);
  return o;
}

void set_node_id(node_options& o, const std::string& id) {
  o.chat.node_id = id;
  o.kafka.node_id = id;
  o.relay.node_id = id;
}

}  // namespace parley::app
