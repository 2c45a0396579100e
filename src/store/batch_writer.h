#pragma once
// batch_writer: the part of a store's writer that every backend shares. The queue between
// append() and the writer thread (commit_queue.h: group commit and its pacing), the thread,
// the checks an append passes before any database sees it, and the answer to a batch after
// its transaction: messages counted, latencies observed, callbacks run in queue order
// outside every lock. The backend supplies one function: commit a batch, filling in each
// append's result.
//
// Threads: append() from any thread (never blocks); the commit function and every callback
// run on the writer thread ("store-writer"); start() and stop() from the owning store.
#include <chrono>
#include <functional>
#include <thread>
#include <vector>

#include "store/commit_queue.h"
#include "store/store.h"

namespace parley::store {

struct pending_append {
  append_request req;
  store::append_callback cb;
  std::chrono::steady_clock::time_point queued;
};

// The rules every backend applies to an append before touching the database: valid ids,
// text and cid; a direct room's sender is one of its two members. `invalid` otherwise.
result<void> validate_append(const append_request& req);

class batch_writer {
 public:
  using batch = std::vector<pending_append>;
  using results = std::vector<result<append_result>>;
  // Commits `b` (one transaction, or as the backend sees fit) and sets each append's result
  // in `r` (sized like `b`, every entry `unavailable` on entry).
  using commit_fn = std::function<void(const batch& b, results& r)>;

  explicit batch_writer(const options& opts, std::chrono::microseconds default_interval);
  ~batch_writer();
  batch_writer(const batch_writer&) = delete;
  batch_writer& operator=(const batch_writer&) = delete;

  void start(commit_fn commit);
  // Queues the append; once stop() was called, answers `closed` at once (on this thread).
  void append(append_request req, store::append_callback cb);
  // Takes no more appends, commits and answers what is queued, joins the thread. Idempotent.
  void stop();

 private:
  void run();

  commit_fn commit_;
  commit_queue<pending_append> queue_;
  std::thread thread_;
};

}  // namespace parley::store
