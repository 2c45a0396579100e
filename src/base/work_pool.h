#pragma once
// A fixed set of threads for blocking work (store calls) behind a bounded queue.
//
// Contract:
// - try_post() never blocks and never waits for the pool: it queues the task, or refuses
//   it at once (returns false; the task is destroyed unrun, on the calling thread) when
//   `max_queued` tasks are already waiting or the pool is stopping. A refusal is the
//   caller's to answer (parleyd: `unavailable`, HTTP 503).
// - A task must never wait for another task of the same pool, nor for anything that may be
//   queued behind one: with every thread waiting, nothing is left to run what they wait for
//   (a whole node hung that way once). A task may wait for resources that other threads hold
//   for a bounded time (a store connection held by another task).
// - Tasks run in the order they were queued, each exactly once, unless stop() drops them.
//
// Threads: every member function may be called from any thread, except that stop() and the
// destructor must not be called from one of the pool's own threads.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace parley {

class work_pool {
 public:
  // `threads` >= 1 threads named `name` (15 characters at most show). The gauges, if given,
  // follow the number of waiting and of running tasks (for /metrics); they must outlive
  // the pool.
  work_pool(std::size_t threads, std::size_t max_queued, const char* name,
            std::atomic<std::int64_t>* queued_gauge = nullptr,
            std::atomic<std::int64_t>* running_gauge = nullptr);
  // stop() without a bound: drops what waits, joins the threads after the running tasks.
  ~work_pool();
  work_pool(const work_pool&) = delete;
  work_pool& operator=(const work_pool&) = delete;

  // Queues `f` (a callable taking no argument, copyable or move-only) unless the queue is
  // full or the pool is stopping. Never blocks. Refused: `f` is left untouched (not moved
  // from), so the caller can still answer through what it holds.
  template <class F>
  bool try_post(F&& f) {
    std::unique_lock lk(mu_);
    if (stopping_ || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::make_unique<task_impl<std::decay_t<F>>>(std::forward<F>(f)));
    pushed(lk);
    return true;
  }

  // Stops taking tasks, destroys the waiting ones unrun (on this thread), and waits at most
  // `bound` for the running ones. True when they all finished (the threads are joined);
  // false when some are still running after the bound: the pool and whatever those tasks
  // use must then stay alive (parleyd exits the process without destroying them).
  // Idempotent.
  bool stop(std::chrono::milliseconds bound = std::chrono::milliseconds::max());

  std::size_t queued() const;   // waiting for a thread
  std::size_t running() const;  // being run now

 private:
  struct task {
    virtual ~task() = default;
    virtual void run() = 0;
  };
  template <class F>
  struct task_impl final : task {
    explicit task_impl(F&& f) : f_(std::move(f)) {}
    explicit task_impl(const F& f) : f_(f) {}
    void run() override { f_(); }
    F f_;
  };

  // After a push under `lk`: counts it, unlocks, wakes a thread.
  void pushed(std::unique_lock<std::mutex>& lk);
  void loop();

  const std::size_t max_queued_;
  std::atomic<std::int64_t>* gauge_;
  std::atomic<std::int64_t>* running_gauge_;
  mutable std::mutex mu_;
  std::condition_variable work_cv_;          // a task was queued, or stopping
  std::condition_variable idle_cv_;          // a running task finished
  std::deque<std::unique_ptr<task>> queue_;  // under mu_
  std::size_t running_ = 0;                  // under mu_
  bool stopping_ = false;                    // under mu_
  bool joined_ = false;                      // under mu_
  std::vector<std::thread> threads_;
};

}  // namespace parley
