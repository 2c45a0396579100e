#pragma once
// The chat service: the node's shared chat state and every operation that is not tied to
// one WebSocket connection (sends, the HTTP API, membership). Knows nothing of sockets.
//
// Threads: send() never blocks (the store's writer calls `done`). Functions marked
// BLOCKING read or write the store: call them through blocking(), never on a network
// thread, and never wait on a store-pool thread for other work of that pool (work_pool.h).
// Everything else is thread-safe and non-blocking.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "auth/jwt.h"
#include "base/metrics.h"
#include "base/result.h"
#include "base/work_pool.h"
#include "bus/bus.h"
#include "chat/errors.h"
#include "chat/membership.h"
#include "chat/rate_limiter.h"
#include "chat/rooms.h"
#include "chat/router.h"

namespace parley::chat {

struct service_options {
  std::string node_id;
  std::size_t max_text_bytes = 16 * 1024;
  double send_rate = 50;
  double frame_rate = 100;
  int replay_max = 1000;
  int max_room_members = 10000;
  int gap_wait_ms = 50;
  std::int64_t jwt_skew_ms = 30'000;
  int blocking_threads = 4;
  // Store calls waiting for one of those threads; past it a call is refused at once with
  // `unavailable` (never queued without limit).
  std::size_t store_queue = 4096;
};

struct send_request {
  std::string user;
  std::string room;
  std::string text;
  std::optional<std::string> cid;
  std::string origin_session;  // the sending connection ("" for HTTP)
};

class service {
 public:
  service(store::store& st, bus::bus& b, std::shared_ptr<const auth::verifier> verifier,
          service_options opts);
  ~service();
  service(const service&) = delete;
  service& operator=(const service&) = delete;

  const service_options& options() const { return opts_; }
  // Names this node in hello frames and bus records. Call before serving.
  void set_node_id(std::string id) { opts_.node_id = std::move(id); }
  chat::router& router() { return router_; }
  chat::rate_limiter& rate_limiter() { return rate_limiter_; }
  const auth::verifier& verifier() const { return *verifier_; }

  // Runs `done(work())` on the store pool, or `done(errc::overloaded)` at once (on the
  // calling thread) when the pool's queue is full or the service is stopping. `work` may
  // block on the store; it must not wait for other work of the pool. `done` must not block.
  // `work` returns a result<T>; `done` takes it.
  template <class Work, class Done>
  void blocking(Work work, Done done);

  // Whether the store answers: `done(up)` runs on the service's own health thread, never
  // behind store work of clients (the store pings on a connection of its own), so an
  // overloaded node still reports itself ready. Concurrent probes share one ping.
  void probe_store(std::function<void(bool)> done);

  // Checks size, membership and rate, then queues the append. `done` runs exactly once:
  // on the store's writer thread after COMMIT, or on any thread with an error; it must not
  // block. After `done` returns for a new (non-repeat) message, the message is published
  // on the bus, so a connection that posts its ack from `done` sees the ack first.
  void send(send_request req, std::function<void(result<sent>)> done);

  // Whether `user` may see `room`: direct rooms by id, groups through the cache (loading
  // it on the blocking pool when missing). `done` may run on the calling thread.
  void check_member(const std::string& room, const std::string& user,
                    std::function<void(result<void>)> done);

  // BLOCKING. Membership of a group room, through the cache.
  result<member_set_ptr> group_members(const std::string& room);
  // BLOCKING. not_member unless `user` may see `room`.
  result<void> require_member(const std::string& room, const std::string& user);

  // Publishes an ephemeral record (typing, read) from a connection.
  void publish(bus::record r);

  // A connection's store work, all BLOCKING, membership checked first (except range():
  // the gap fill of a room the connection joined). Errors are chat::errc values.
  result<join_snapshot> join(const std::string& room, const std::string& user,
                             std::optional<std::int64_t> since, int limit);
  result<std::int64_t> mark_read(const std::string& room, const std::string& user,
                                 std::int64_t seq);
  result<std::vector<message>> range(const std::string& room, std::int64_t first,
                                     std::int64_t last);

  // HTTP API (and history frames: messages()), all BLOCKING. Errors are chat::errc values.
  result<room> create_room(const std::string& caller, const std::string& name,
                           const std::vector<std::string>& members);
  result<std::vector<room_summary>> list_rooms(const std::string& caller);
  result<room> get_room(const std::string& caller, const std::string& room);
  result<room> add_member(const std::string& caller, const std::string& room,
                          const std::string& user);
  result<room> remove_member(const std::string& caller, const std::string& room,
                             const std::string& user);
  result<page> messages(const std::string& caller, const std::string& room,
                        std::optional<std::int64_t> before, std::optional<std::int64_t> after,
                        int limit);

  // Re-reads the membership of every group room a local connection joined, every
  // `every` (on the store pool; a round the pool refuses is skipped), and applies changes
  // the bus did not bring (architecture.md "Membership").
  void start_membership_refresh(std::chrono::milliseconds every = std::chrono::seconds(2));
  // One refresh round (BLOCKING); exposed for tests.
  void refresh_memberships();

  // Stops the refresher, drops the store work still queued (its callers get no answer:
  // their connections are closing) and waits at most `bound` for the running work. True
  // when everything stopped; false when store calls are still running after the bound:
  // then the service (and the store) must not be destroyed; parleyd exits without.
  bool stop(std::chrono::milliseconds bound = std::chrono::milliseconds::max());

 private:
  void on_record(const bus::record_ptr& r);
  void refresh_rooms(const std::vector<std::string>& rooms);  // BLOCKING
  void publish_local_membership(const std::string& room, const std::string& user, const char* op);
  void publish_membership(const std::string& room, const std::string& user, const char* op,
                          std::int64_t last_seq, const std::string& by);

  rooms rooms_;
  bus::bus& bus_;
  std::shared_ptr<const auth::verifier> verifier_;
  service_options opts_;
  membership_cache members_;
  chat::rate_limiter rate_limiter_;
  chat::router router_;
  work_pool pool_;
  work_pool health_;  // one thread: the store's ping, and nothing else
  std::mutex probe_mu_;
  std::vector<std::function<void(bool)>> probe_waiters_;  // under probe_mu_
  std::atomic<bool> refresh_in_flight_{false};
  std::thread refresher_;
  std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool stopping_ = false;
};

template <class Work, class Done>
void service::blocking(Work work, Done done) {
  struct job {
    Work work;
    Done done;
    void operator()() { done(work()); }
  };
  job j{std::move(work), std::move(done)};
  if (pool_.try_post(std::move(j))) return;  // refused: `j` is untouched
  global_metrics().store_queue_rejected.fetch_add(1, std::memory_order_relaxed);
  j.done(std::invoke_result_t<Work&>(errc::overloaded));
}

}  // namespace parley::chat
