#pragma once
// The queue between append() and a store's writer thread, and the group commit's pacing.
//
// push() from any thread; take() from the writer thread only; stop() from any thread.
// take() waits for queued work and hands over up to `max_batch` items in queue order. With
// a `min_interval`, it starts a batch at most once per interval: work that arrives less
// than `min_interval` after the previous batch was taken waits for the rest of the interval
// (or until `max_batch` items are queued, or stop()), so that under load each commit (an
// fsync, a round trip, the wake-ups around it) carries more appends. Work that arrives when
// the writer has been quiet for an interval is taken at once: a lone message never waits,
// and no message waits longer than one interval for its batch to start. After stop(), take()
// no longer waits for the interval and returns what is queued, then false once it is empty.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <iterator>
#include <mutex>
#include <vector>

namespace parley::store {

template <class T>
class commit_queue {
 public:
  using clock = std::chrono::steady_clock;

  commit_queue(std::size_t max_batch, clock::duration min_interval)
      : max_batch_(std::max<std::size_t>(max_batch, 1)),
        min_interval_(std::max(min_interval, clock::duration::zero())) {}

  // Queues `item`, or hands it back untouched (false) once stop() was called.
  bool push(T& item) {
    std::lock_guard lk(mu_);
    if (stopping_) return false;
    q_.push_back(std::move(item));
    // Only the writer waits on cv_; with a pacing wait in progress, wake it only when the
    // batch is full (it would go back to sleep otherwise).
    if (q_.size() == 1 || q_.size() >= max_batch_) cv_.notify_one();
    return true;
  }

  // Replaces `out` with the next batch (see above). False when stopped and empty.
  bool take(std::vector<T>& out) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return stopping_ || !q_.empty(); });
    if (q_.empty()) return false;
    if (min_interval_ > clock::duration::zero()) {
      auto due = last_take_ + min_interval_;
      if (clock::now() < due)
        cv_.wait_until(lk, due, [&] { return stopping_ || q_.size() >= max_batch_; });
    }
    last_take_ = clock::now();
    auto n = std::min(q_.size(), max_batch_);
    auto end = q_.begin() + static_cast<std::ptrdiff_t>(n);
    out.assign(std::make_move_iterator(q_.begin()), std::make_move_iterator(end));
    q_.erase(q_.begin(), end);
    return true;
  }

  void stop() {
    {
      std::lock_guard lk(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
  }

 private:
  const std::size_t max_batch_;
  const clock::duration min_interval_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> q_;
  bool stopping_ = false;          // under mu_
  clock::time_point last_take_{};  // writer thread (under mu_)
};

}  // namespace parley::store
