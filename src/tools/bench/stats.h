#pragma once
// The figures every connection of a bench run adds to, and the run's clock. One instance
// per run, shared by all connections and the reporting thread.
//
// Phases: a figure counts when the event (ack, delivery, completed connect) happens in the
// measure window [measure_begin_us, measure_end_us) of the bench clock; latencies are
// recorded under the same rule, except connect_latency outside the connect scenario, which
// records every connection's set-up (they all happen before the warm-up). Correctness
// counters count over the whole run.
//
// Threads: every member may be used from any thread.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "tools/bench/histogram.h"

namespace parley::tools::bench {

using bench_clock = std::chrono::steady_clock;

// Microseconds since the process's bench epoch (first call).
std::int64_t now_us();
bench_clock::time_point at_us(std::int64_t us);

struct stats {
  std::atomic<std::int64_t> measure_begin_us{INT64_MAX};
  std::atomic<std::int64_t> measure_end_us{INT64_MAX};
  bool measuring(std::int64_t t) const {
    return t >= measure_begin_us.load(std::memory_order_relaxed) &&
           t < measure_end_us.load(std::memory_order_relaxed);
  }

  histogram ack_latency;      // scheduled send -> ack
  histogram deliver_latency;  // scheduled send -> message at a receiver
  histogram connect_latency;  // TCP connect start -> hello

  // Measure phase.
  std::atomic<std::uint64_t> acked_sends{0};
  std::atomic<std::uint64_t> deliveries{0};
  std::atomic<std::uint64_t> connects{0};
  // Offered load: sends scheduled inside the measure window, the deliveries they should
  // cause (one per member of the room, the sender's own connection included), and those of
  // them that arrived by the end of the run (measure window plus drain), whenever sent.
  std::atomic<std::uint64_t> offered_sends{0};
  std::atomic<std::uint64_t> offered_deliveries{0};
  std::atomic<std::uint64_t> offered_delivered{0};
  // Whole run.
  std::atomic<std::uint64_t> sent_total{0};
  std::atomic<std::uint64_t> acked_total{0};
  std::atomic<std::uint64_t> deliveries_total{0};
  std::atomic<std::uint64_t> errors_total{0};
  std::atomic<std::uint64_t> backlog_dropped{0};  // sends not queued: local queue full

  std::atomic<std::uint64_t> established{0};  // connections that got hello (and joined)
  std::atomic<std::uint64_t> failed{0};       // set-ups that failed
  std::atomic<std::uint64_t> lost{0};         // established connections that closed early

  // Correctness (whole run).
  std::atomic<std::uint64_t> duplicates{0};    // a seq at or below one already seen, not a gap
  std::atomic<std::uint64_t> out_of_order{0};  // a seq that filled an earlier gap (late)
  std::atomic<std::uint64_t> foreign_room{0};  // a message of a room not joined
  std::atomic<std::uint64_t> gaps{0};          // seqs skipped and never delivered (at the end)

  void add_error(const std::string& code);
  std::map<std::string, std::uint64_t> errors() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> errors_;
};

}  // namespace parley::tools::bench
