#include "relay/outbox_relay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <iterator>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::relay {

using steady = std::chrono::steady_clock;
using key = std::pair<std::string, std::int64_t>;  // (room, seq)

// State shared by the relay's thread and the bus's delivery callback.
struct outbox_relay::shared {
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  bool accepting = true;       // false once the relay stopped: late reports are dropped
  std::vector<key> confirmed;  // waiting for outbox_done()
  steady::time_point first_confirmed;
  std::set<key> in_flight;  // republished by the relay, not yet reported by the bus
  std::size_t done_batch = 500;
};

namespace {
// Keys that failed outbox_done() (database down) are kept for the next try, up to this many;
// beyond it they are dropped and their rows simply published again after the lease.
constexpr std::size_t k_max_pending = 100'000;
constexpr std::chrono::seconds k_retry{1};
}  // namespace

outbox_relay::outbox_relay(store::store& st, bus::bus& b, outbox_relay_options opts)
    : store_(st),
      bus_(b),
      opts_(std::move(opts)),
      m_(opts_.metrics ? *opts_.metrics : global_metrics()),
      s_(std::make_shared<shared>()) {
  s_->done_batch = std::max<std::size_t>(1, opts_.done_batch);
  bus_.set_delivery_callback([s = s_](const bus::record_ptr& r, bool ok) {
    std::lock_guard lock(s->mu);
    if (!s->in_flight.empty()) s->in_flight.erase(key(r->room, r->seq));
    if (!ok || !s->accepting) return;
    if (s->confirmed.empty()) s->first_confirmed = steady::now();
    s->confirmed.emplace_back(r->room, r->seq);
    // Wake the thread when a batch begins (it then sleeps until done_delay) or is full.
    if (s->confirmed.size() == 1 || s->confirmed.size() == s->done_batch) s->cv.notify_one();
  });
}

outbox_relay::~outbox_relay() { stop(); }

void outbox_relay::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
  name_thread(thread_, "outbox-relay");
}

void outbox_relay::stop() {
  {
    std::lock_guard lock(s_->mu);
    if (s_->stopping && !thread_.joinable()) return;
    s_->stopping = true;
  }
  s_->cv.notify_all();
  if (thread_.joinable()) thread_.join();
  flush_done(true);
}

void outbox_relay::run() {
  auto next_claim = steady::now();  // first claim at once: a restarted node's backlog
  std::unique_lock lock(s_->mu);
  while (!s_->stopping) {
    auto wake = next_claim;
    bool pending = !s_->confirmed.empty();
    if (pending) {
      wake = std::min(wake, std::max(s_->first_confirmed + opts_.done_delay, retry_after_));
    }
    // Also wakes when a first key arrives: the wake-up time then moves to its deadline.
    s_->cv.wait_until(lock, wake, [&] {
      return s_->stopping ||
             (s_->confirmed.size() >= s_->done_batch && steady::now() >= retry_after_) ||
             (!pending && !s_->confirmed.empty());
    });
    if (s_->stopping) break;
    lock.unlock();
    flush_done(false);
    if (steady::now() >= next_claim) {
      claim();
      next_claim = steady::now() + opts_.interval;
    }
    lock.lock();
  }
}

// Removes the outbox rows of confirmed records, done_batch keys per call: when a batch is
// full or the oldest key waited done_delay (always when `final`). After a failure the
// keys are kept and retried no sooner than k_retry.
void outbox_relay::flush_done(bool final) {
  std::vector<key> keys;
  auto now = steady::now();
  {
    std::lock_guard lock(s_->mu);
    if (final) s_->accepting = false;
    if (s_->confirmed.empty()) return;
    if (!final && (now < retry_after_ || (s_->confirmed.size() < s_->done_batch &&
                                          now < s_->first_confirmed + opts_.done_delay))) {
      return;
    }
    keys.swap(s_->confirmed);
  }
  std::size_t at = 0;
  while (at < keys.size()) {
    std::size_t n = std::min(s_->done_batch, keys.size() - at);
    std::vector<key> batch(std::make_move_iterator(keys.begin() + at),
                           std::make_move_iterator(keys.begin() + at + n));
    auto r = store_.outbox_done(batch);
    if (!r) {
      spdlog::warn("outbox: removing {} confirmed rows failed: {}", keys.size() - at,
                   r.error().message());
      if (final) return;  // published again by some node after the lease: at least once
      retry_after_ = steady::now() + k_retry;
      std::lock_guard lock(s_->mu);
      if (keys.size() - at + s_->confirmed.size() > k_max_pending) return;
      std::move(batch.begin(), batch.end(), std::back_inserter(s_->confirmed));
      std::move(keys.begin() + at + n, keys.end(), std::back_inserter(s_->confirmed));
      s_->first_confirmed = now;
      return;
    }
    m_.outbox_confirmed.fetch_add(n, std::memory_order_relaxed);
    at += n;
  }
}

void outbox_relay::claim() {
  auto claimed = store_.outbox_claim(opts_.claim_limit, opts_.min_age, opts_.lease);
  if (!claimed) {
    spdlog::warn("outbox: claim failed: {}", claimed.error().message());
    return;
  }
  if (claimed.value().empty()) return;
  std::vector<bus::record_ptr> out;
  out.reserve(claimed.value().size());
  {
    std::lock_guard lock(s_->mu);
    for (auto& m : claimed.value()) {
      // Still in the producer's queue from an earlier claim: a second copy adds nothing.
      if (!s_->in_flight.emplace(m.room, m.seq).second) continue;
      out.push_back(
          std::make_shared<const bus::record>(bus::message_record(std::move(m), opts_.node_id)));
    }
  }
  spdlog::debug("outbox: claimed {}, publishing {}", claimed.value().size(), out.size());
  // Outside the lock: a bus may report synchronously.
  for (auto& r : out) bus_.publish(std::move(r));
  m_.outbox_republished.fetch_add(out.size(), std::memory_order_relaxed);
}

}  // namespace parley::relay
