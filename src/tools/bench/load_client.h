#pragma once
// One benchmark WebSocket connection: set-up (TCP from a chosen source address, upgrade
// with the token in the query, hello, and the connect-time join's `joined`), a read loop
// that checks every `message` (own room only, seq order, each once) and measures latency,
// and the sending side (open loop on a precomputed schedule, or closed loop with a window).
//
// Cids carry the scheduled send time: "<t_us>.<k>" (bench clock, see stats.h), so the
// sender's ack and every receiver's copy measure from the same scheduled instant.
//
// Threads: each connection runs on its own strand of the shared io_context; the public
// functions may be called from any thread (they post to the strand). Lifetime: held by
// shared_ptr; pending handlers keep it alive; shutdown() makes them all complete.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tools/bench/options.h"
#include "tools/bench/stats.h"

namespace parley::tools::bench {

struct conn_plan {
  int index = 0;
  std::string user;
  std::string token;
  std::string room;   // joined at connect (query `room`); empty: no room
  int room_size = 0;  // connections joined to `room` (each send reaches all of them)
  endpoint target;
  std::string source_addr;  // local address to bind ("" = any)
  bool sender = false;
  bool cycle = false;  // connect scenario: connect, hello, close, again until shutdown()
};

// How a sender paces itself. Open loop: message k is scheduled at
// begin_us + phase_us + k * interval_us; closed loop: `window` sends in flight.
struct send_plan {
  bool closed_loop = false;
  int window = 1;
  std::int64_t begin_us = 0;
  double interval_us = 0;
  double phase_us = 0;
  std::int64_t end_us = 0;  // no send scheduled at or after this
  std::string text;
};

class load_client : public std::enable_shared_from_this<load_client> {
 public:
  // `on_setup(ok)` runs once, on the strand, when the first set-up succeeded or failed.
  static std::shared_ptr<load_client> make(boost::asio::io_context& ioc, conn_plan plan, stats& st,
                                          std::function<void(bool)> on_setup);
  virtual ~load_client() = default;
  virtual void start() = 0;
  virtual void start_sending(const send_plan& p) = 0;
  // Closes the socket; every pending operation completes. Seqs still missing are added to
  // stats::gaps.
  virtual void shutdown() = 0;
};

}  // namespace parley::tools::bench
