#include "base/work_pool.h"

#include <algorithm>

#include "base/thread_name.h"

namespace parley {

work_pool::work_pool(std::size_t threads, std::size_t max_queued, const char* name,
                     std::atomic<std::int64_t>* queued_gauge,
                     std::atomic<std::int64_t>* running_gauge)
    : max_queued_(max_queued), gauge_(queued_gauge), running_gauge_(running_gauge) {
  threads = std::max<std::size_t>(threads, 1);
  threads_.reserve(threads);
  for (std::size_t i = 0; i < threads; ++i) {
    threads_.emplace_back([this] { loop(); });
    name_thread(threads_.back(), name);
  }
}

work_pool::~work_pool() { stop(); }

void work_pool::pushed(std::unique_lock<std::mutex>& lk) {
  if (gauge_) gauge_->fetch_add(1, std::memory_order_relaxed);
  lk.unlock();
  work_cv_.notify_one();
}

void work_pool::loop() {
  std::unique_lock lk(mu_);
  for (;;) {
    work_cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping
    auto t = std::move(queue_.front());
    queue_.pop_front();
    if (gauge_) gauge_->fetch_sub(1, std::memory_order_relaxed);
    ++running_;
    if (running_gauge_) running_gauge_->fetch_add(1, std::memory_order_relaxed);
    lk.unlock();
    t->run();
    t.reset();  // what the task holds is released before it counts as finished
    lk.lock();
    --running_;
    if (running_gauge_) running_gauge_->fetch_sub(1, std::memory_order_relaxed);
    idle_cv_.notify_all();
  }
}

bool work_pool::stop(std::chrono::milliseconds bound) {
  std::deque<std::unique_ptr<task>> dropped;
  std::unique_lock lk(mu_);
  if (joined_) return true;
  stopping_ = true;
  dropped.swap(queue_);
  if (gauge_)
    gauge_->fetch_sub(static_cast<std::int64_t>(dropped.size()), std::memory_order_relaxed);
  work_cv_.notify_all();
  // Dropped tasks may hold things whose destruction takes locks of their own: not under mu_.
  lk.unlock();
  dropped.clear();
  lk.lock();
  auto idle = [&] { return running_ == 0; };
  if (bound == std::chrono::milliseconds::max()) {
    idle_cv_.wait(lk, idle);
  } else if (!idle_cv_.wait_for(lk, bound, idle)) {
    return false;
  }
  if (joined_) return true;  // another stop() joins them
  joined_ = true;
  lk.unlock();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  return true;
}

std::size_t work_pool::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

std::size_t work_pool::running() const {
  std::lock_guard lk(mu_);
  return running_;
}

}  // namespace parley
