#pragma once
// The chat service: the node's shared chat state and every operation that is not tied to
// one WebSocket connection (sends, the HTTP API, membership). Knows nothing of sockets.
//
// Threads: send() never blocks (the store's writer calls `done`). Functions marked
// BLOCKING read or write the store: call them on blocking_pool(), never on a network
// thread. Everything else is thread-safe and non-blocking.
#include <boost/asio/thread_pool.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "auth/jwt.h"
#include "base/result.h"
#include "bus/bus.h"
#include "chat/errors.h"
#include "chat/membership.h"
#include "chat/rate_limiter.h"
#include "chat/router.h"
#include "store/store.h"

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
  store::store& storage() { return store_; }
  router& routes() { return router_; }
  rate_limiter& limits() { return limits_; }
  const auth::verifier& verifier() const { return *verifier_; }
  boost::asio::thread_pool& blocking_pool() { return pool_; }

  // Checks size, membership and rate, then queues the append. `done` runs exactly once:
  // on the store's writer thread after COMMIT, or on any thread with an error; it must not
  // block. After `done` returns for a new (non-repeat) message, the message is published
  // on the bus, so a connection that posts its ack from `done` sees the ack first.
  void send(send_request req, std::function<void(result<store::append_result>)> done);

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

  // HTTP API, all BLOCKING. Errors are chat::errc values.
  result<store::room> create_room(const std::string& caller, const std::string& name,
                                  const std::vector<std::string>& members);
  result<std::vector<store::room_summary>> list_rooms(const std::string& caller);
  result<store::room> get_room(const std::string& caller, const std::string& room);
  result<store::room> add_member(const std::string& caller, const std::string& room,
                                 const std::string& user);
  result<store::room> remove_member(const std::string& caller, const std::string& room,
                                    const std::string& user);
  result<store::page> messages(const std::string& caller, const std::string& room,
                               std::optional<std::int64_t> before,
                               std::optional<std::int64_t> after, int limit);

  // Re-reads the membership of every group room a local connection joined, every
  // `every`, and applies changes the bus did not bring (architecture.md "Membership").
  void start_membership_refresh(std::chrono::milliseconds every = std::chrono::seconds(2));
  // One refresh round (BLOCKING); exposed for tests.
  void refresh_memberships();

  // Stops the refresher and the blocking pool after the work queued on it. Idempotent.
  void stop();

 private:
  void on_record(const bus::record_ptr& r);
  void publish_local_membership(const std::string& room, const std::string& user, const char* op);
  void publish_membership(const std::string& room, const std::string& user, const char* op,
                          std::int64_t last_seq, const std::string& by);

  store::store& store_;
  bus::bus& bus_;
  std::shared_ptr<const auth::verifier> verifier_;
  service_options opts_;
  membership_cache members_;
  rate_limiter limits_;
  router router_;
  boost::asio::thread_pool pool_;
  std::thread refresher_;
  std::mutex refresh_mu_;
  std::condition_variable refresh_cv_;
  bool stopping_ = false;
};

}  // namespace parley::chat
