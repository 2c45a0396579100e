#pragma once
// The outbox relay: every stored message reaches the bus, even when its first publish was
// lost (Kafka down, queue full, node killed between COMMIT and produce). docs/architecture.md,
// "Outbox".
//
// Two jobs on one thread of its own:
//  - every `interval`, outbox_claim() leases outbox rows older than `min_age` (this node's
//    and those of dead nodes) and publishes their messages again as `message` records
//    carrying this node's id. Other nodes take them like any record; this node's consumer
//    drops them as its own, which is right: its local connections got the message at the
//    original publish, or fill the gap from the store. The local subscriber also sees the
//    republished record at publish time; the router drops it as a duplicate by seq.
//  - the bus's delivery callback queues the (room, seq) of every confirmed `message`
//    record; the thread removes them with outbox_done() in batches (after `done_delay` or
//    `done_batch` keys), so the Kafka thread never waits on the database.
//
// A record republished by the relay and not yet reported by the bus is not published again
// by later claims, so an outage does not pile copies of the backlog into the producer.
// Delivery is at least once: a message may reach the topic twice (receivers deduplicate).
//
// Threads: construct before bus.start() (it sets the bus's delivery callback). start() and
// stop() from one controlling thread. The callback it installs stays safe to call after
// the relay is stopped or destroyed (late reports are dropped; their rows are claimed and
// published again later).
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "bus/bus.h"
#include "store/store.h"

namespace parley {
struct metrics;
}

namespace parley::relay {

struct outbox_relay_options {
  std::string node_id;                        // written into republished records
  std::chrono::milliseconds interval{1'000};  // between two claims
  int claim_limit = 500;                      // rows per claim
  std::chrono::milliseconds min_age{2'000};   // rows younger than this are left to send()
  std::chrono::milliseconds lease{30'000};    // how long a claim keeps other nodes off
  std::chrono::milliseconds done_delay{100};  // a confirmed key waits at most this long
  std::size_t done_batch = 500;               // ... or until this many are waiting
  parley::metrics* metrics = nullptr;         // nullptr: global_metrics()
};

class outbox_relay {
 public:
  // Installs the delivery callback on `b`. `st` and `b` must outlive the relay's thread
  // (until stop() returns).
  outbox_relay(store::store& st, bus::bus& b, outbox_relay_options opts);
  ~outbox_relay();
  outbox_relay(const outbox_relay&) = delete;
  outbox_relay& operator=(const outbox_relay&) = delete;

  // Starts the thread. Once only.
  void start();
  // Stops claiming, removes the keys confirmed so far (one last outbox_done()), joins the
  // thread. Idempotent. Blocks on the store.
  void stop();

 private:
  struct shared;
  void run();
  void claim();
  void flush_done(bool final);

  store::store& store_;
  bus::bus& bus_;
  outbox_relay_options opts_;
  parley::metrics& m_;
  std::shared_ptr<shared> s_;                            // also held by the bus's delivery callback
  std::chrono::steady_clock::time_point retry_after_{};  // the relay's thread only
  std::thread thread_;
};

}  // namespace parley::relay
