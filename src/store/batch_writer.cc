#include "store/batch_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>

#include "base/ids.h"
#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::store {

result<void> validate_append(const append_request& req) {
  if (!ids::valid_room(req.room) || !ids::valid_user(req.sender) || req.id.empty() ||
      !ids::valid_text(req.text) || (req.cid && !ids::valid_cid(*req.cid)))
    return make_error_code(errc::invalid);
  if (ids::is_direct(req.room)) {
    auto [a, b] = ids::direct_members(req.room);
    if (req.sender != a && req.sender != b) return make_error_code(errc::invalid);
  }
  return success();
}

batch_writer::batch_writer(const options& opts, std::chrono::microseconds default_interval)
    : queue_(static_cast<std::size_t>(std::max(opts.max_batch, 1)),
             opts.commit_interval.value_or(default_interval)) {}

batch_writer::~batch_writer() { stop(); }

void batch_writer::start(commit_fn commit) {
  commit_ = std::move(commit);
  thread_ = std::thread([this] { run(); });
  name_thread(thread_, "store-writer");
}

void batch_writer::append(append_request req, store::append_callback cb) {
  pending_append p{std::move(req), std::move(cb), std::chrono::steady_clock::now()};
  if (queue_.push(p)) return;
  // The writer is gone (or going): nothing can run on it, so answer here.
  if (p.cb) p.cb(result<append_result>(make_error_code(errc::closed)));
}

void batch_writer::stop() {
  queue_.stop();
  if (thread_.joinable()) thread_.join();
}

// Ends when stop() stopped the queue and everything queued was committed and answered.
void batch_writer::run() {
  batch b;
  results r;
  while (queue_.take(b)) {
    r.assign(b.size(), make_error_code(errc::unavailable));
    commit_(b, r);

    std::uint64_t stored = 0;
    for (const auto& x : r)
      if (x && !x.value().duplicate) ++stored;
    auto& m = global_metrics();
    m.messages_stored.fetch_add(stored, std::memory_order_relaxed);

    // Callbacks after COMMIT, in queue order, outside every lock.
    auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < b.size(); ++i) {
      m.store_append_latency.observe(std::chrono::duration<double>(now - b[i].queued).count());
      if (!b[i].cb) continue;
      try {
        b[i].cb(std::move(r[i]));
      } catch (const std::exception& e) {
        spdlog::error("store: append callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("store: append callback threw");
      }
    }
    b.clear();
  }
}

}  // namespace parley::store
