#pragma once
// parleyd's wiring options: every module's option struct, built from the configuration in
// one place (options.cc), so that each setting is copied once and a new one is added in
// one function.
#include <string>

#include "auth/jwt.h"
#include "bus/kafka_bus.h"
#include "chat/service.h"
#include "config/config.h"
#include "net/server.h"
#include "relay/outbox_relay.h"
#include "store/store.h"

namespace parley::app {

struct node_options {
  bool cluster = false;  // Kafka brokers given: PostgreSQL + Kafka
  auth::verifier_options verifier;
  store::options store;
  net::server_options net;
  chat::service_options chat;
  bus::kafka_options kafka;           // cluster mode only
  relay::outbox_relay_options relay;  // cluster mode only
};

// The options of every module from `cfg`. The node id (chat, kafka, relay) is left empty
// when the configuration does not give one: set_node_id() fills it once the port is bound.
// `dev_secret` is the HS256 secret of dev mode (random unless configured); empty otherwise.
node_options options_from(const config::config& cfg, const std::string& dev_secret,
                          const std::string& default_web_root);

// Names this node in every module's options.
void set_node_id(node_options& o, const std::string& id);

}  // namespace parley::app
