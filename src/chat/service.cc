#include "chat/service.h"

#include <algorithm>
#include <set>
#include <thread>

#include "base/clock.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "base/thread_name.h"

namespace parley::chat {

service::service(store::store& st, bus::bus& b, std::shared_ptr<const auth::verifier> verifier,
                 service_options opts)
    : rooms_(st),
      bus_(b),
      verifier_(std::move(verifier)),
      opts_(std::move(opts)),
      rate_limiter_(opts_.send_rate, opts_.frame_rate),
      router_(members_),
      pool_(static_cast<std::size_t>(std::max(1, opts_.blocking_threads)), opts_.store_queue,
            "store-pool", &global_metrics().store_queue, &global_metrics().store_busy),
      health_(1, 1, "store-health") {
  bus_.set_subscriber([this](const bus::record_ptr& r) { on_record(r); });
}

service::~service() { stop(); }

bool service::stop(std::chrono::milliseconds bound) {
  {
    std::lock_guard lock(refresh_mu_);
    stopping_ = true;
  }
  refresh_cv_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  // The health thread's one call (a ping) gets the same bound, not what the pool left of it:
  // a bound of max() cannot be added to a time point.
  bool pool_done = pool_.stop(bound);
  return health_.stop(bound) && pool_done;
}

void service::start_membership_refresh(std::chrono::milliseconds every) {
  // The thread only keeps time: each round runs on the store pool, so that stop() never
  // waits for a store call here, and a round is skipped while the previous one runs or
  // the pool is full.
  refresher_ = std::thread([this, every] {
    std::unique_lock lock(refresh_mu_);
    while (!refresh_cv_.wait_for(lock, every, [this] { return stopping_; })) {
      auto rooms = router_.joined_group_rooms();
      if (rooms.empty() || refresh_in_flight_.exchange(true)) continue;
      blocking(
          [this, rooms = std::move(rooms)]() -> result<void> {
            refresh_rooms(rooms);
            return success();
          },
          [this](result<void>) { refresh_in_flight_ = false; });
    }
  });
  name_thread(refresher_, "members-sync");
}

void service::probe_store(std::function<void(bool)> done) {
  {
    std::lock_guard lk(probe_mu_);
    probe_waiters_.push_back(std::move(done));
    if (probe_waiters_.size() > 1) return;  // a ping is under way: its answer is this one's
  }
  auto answer = [this](bool up) {
    std::vector<std::function<void(bool)>> waiters;
    {
      std::lock_guard lk(probe_mu_);
      waiters.swap(probe_waiters_);
    }
    for (auto& w : waiters) w(up);
  };
  // Refused only while stopping (a ping in flight holds the one slot only while the
  // waiters list is non-empty, and then nothing is posted).
  if (!health_.try_post([this, answer] { answer(rooms_.ping()); })) answer(false);
}

void service::refresh_memberships() { refresh_rooms(router_.joined_group_rooms()); }

void service::refresh_rooms(const std::vector<std::string>& rooms) {
  if (rooms.empty()) return;
  // All of them in one read (PostgreSQL: one query per 1,000 rooms), not a query per room:
  // a node serving 10,000 rooms would otherwise ask 5,000 times a second.
  auto fresh = rooms_.members_of(rooms);
  if (!fresh) return;  // store down: keep what we have, try again next round
  for (const auto& room : rooms) {
    auto it = fresh.value().find(room);
    if (it == fresh.value().end()) continue;  // gone from the store: as before, left alone
    member_set now(it->second.begin(), it->second.end());
    if (auto old = members_.get_stale(room)) {
      // Changes this node has not heard of on the bus (e.g. Kafka down): announce them
      // locally, so a removed member stops receiving here too.
      for (const auto& u : *old)
        if (!now.count(u)) publish_local_membership(room, u, "remove");
      for (const auto& u : now)
        if (!old->count(u)) publish_local_membership(room, u, "add");
    }
    members_.put(room, std::move(now));
  }
}

void service::publish_local_membership(const std::string& room, const std::string& user,
                                       const char* op) {
  auto r = std::make_shared<bus::record>();
  r->type = bus::kind::membership;
  r->room = room;
  r->user = user;
  r->op = op;
  r->node = opts_.node_id;
  router_.dispatch(r);
}

void service::on_record(const bus::record_ptr& r) {
  router_.dispatch(r);
  // A group message from another node for a room this node never cached: load the members
  // (on the pool, never on the bus thread) so their connections still get `notify`.
  // Under overload the pool may refuse: those connections then miss this one `notify`.
  if (r->type == bus::kind::message && !ids::is_direct(r->room) && !members_.get_stale(r->room) &&
      router_.has_connections())
    blocking([this, r] { return group_members(r->room); },
             [this, r](result<member_set_ptr> m) {
               if (m) router_.notify(r);
             });
}

void service::check_member(const std::string& room, const std::string& user,
                           std::function<void(result<void>)> done) {
  if (ids::is_direct(room)) {
    auto [a, b] = ids::direct_members(room);
    if (user == a || user == b) return done(success());
    return done(errc::not_member);
  }
  if (auto m = members_.get(room)) {
    if (m->count(user)) return done(success());
    return done(errc::not_member);
  }
  blocking([this, room, user] { return require_member(room, user); }, std::move(done));
}

result<member_set_ptr> service::group_members(const std::string& room) {
  if (auto m = members_.get(room)) return m;
  BOOST_OUTCOME_TRY(auto list, rooms_.members(room));
  member_set set(list.begin(), list.end());
  members_.put(room, std::move(set));
  return members_.get_stale(room);
}

result<void> service::require_member(const std::string& room, const std::string& user) {
  if (ids::is_direct(room)) {
    auto [a, b] = ids::direct_members(room);
    if (user == a || user == b) return success();
    return errc::not_member;
  }
  auto m = group_members(room);
  if (!m) return m.error();
  if (!m.value()->count(user)) return errc::not_member;
  return success();
}

void service::send(send_request req, std::function<void(result<sent>)> done) {
  if (req.text.size() > opts_.max_text_bytes) return done(errc::too_large);
  if (req.text.empty() || !ids::valid_text(req.text)) return done(errc::bad_request);
  auto room = req.room, user = req.user;
  check_member(
      room, user, [this, req = std::move(req), done = std::move(done)](result<void> m) mutable {
        if (!m) return done(m.error());
        bool took = rate_limiter_.try_take(req.user, rate_limiter::bucket::send);
        if (!took) {
          if (!req.cid) return done(errc::rate_limited);
          // A repeat of a stored cid is answered with its original ack even when the bucket
          // is empty: repeats do not count against the rate limit.
          return blocking(
              [this, req = std::move(req)]() -> result<sent> {
                BOOST_OUTCOME_TRY(auto found, rooms_.find_cid(req.room, req.user, *req.cid));
                if (!found) return errc::rate_limited;
                return sent{std::move(*found), true};
              },
              std::move(done));
        }
        append_request ar;
        ar.room = req.room;
        ar.sender = req.user;
        ar.cid = req.cid;
        ar.text = std::move(req.text);
        ar.ts = now_ms();
        ar.id = ids::new_message_id(ar.ts);
        rooms_.append(std::move(ar), [this, user = req.user, origin = std::move(req.origin_session),
                                      done = std::move(done)](result<sent> r) {
          if (!r) return done(r.error());
          if (r.value().duplicate) {
            // A repeat of a stored cid does not count against the rate limit.
            rate_limiter_.refund(user, rate_limiter::bucket::send);
            return done(std::move(r));
          }
          auto rec = std::make_shared<const bus::record>(
              bus::message_record(r.value().msg, opts_.node_id));
          // The ack is posted first (by `done`), then the message: the sender's connection
          // sees them in that order.
          done(std::move(r));
          bus_.publish(std::move(rec));
        });
      });
}

void service::publish(bus::record r) {
  r.node = opts_.node_id;
  bus_.publish(std::make_shared<const bus::record>(std::move(r)));
}

void service::publish_membership(const std::string& room, const std::string& user, const char* op,
                                 std::int64_t last_seq, const std::string& by) {
  bus::record r;
  r.type = bus::kind::membership;
  r.room = room;
  r.user = user;
  r.op = op;
  r.seq = last_seq;
  r.by = by;
  publish(std::move(r));
}

result<room> service::create_room(const std::string& caller, const std::string& name,
                                  const std::vector<std::string>& members) {
  std::set<std::string> all(members.begin(), members.end());
  all.insert(caller);
  for (const auto& u : all)
    if (!ids::valid_user(u)) return errc::bad_request;
  if (static_cast<int>(all.size()) > opts_.max_room_members) return errc::conflict;
  std::vector<std::string> list(all.begin(), all.end());
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto id = ids::new_group_id();
    auto r = rooms_.create_group(id, name, caller, list);
    if (!r && r.error() == errc::conflict) continue;  // id collision: try another
    if (!r) return r.error();
    // Cache the creator only: each member's `add` record below fills in the rest and
    // notifies that member's connections (the router notifies only on news).
    members_.put(id, member_set{caller});
    for (const auto& u : list)
      if (u != caller) publish_membership(id, u, "add", 0, caller);
    return r;
  }
  return errc::internal;
}

result<std::vector<room_summary>> service::list_rooms(const std::string& caller) {
  return rooms_.rooms_of(caller);
}

result<room> service::get_room(const std::string& caller, const std::string& room_id) {
  if (ids::is_direct(room_id)) {
    BOOST_OUTCOME_TRY(require_member(room_id, caller));
  }
  auto r = rooms_.get(room_id);
  if (!r) return r.error();
  const auto& ms = r.value().members;
  if (std::find(ms.begin(), ms.end(), caller) == ms.end()) return errc::not_member;
  return r;
}

result<room> service::add_member(const std::string& caller, const std::string& room,
                                 const std::string& user) {
  if (ids::is_direct(room)) {
    BOOST_OUTCOME_TRY(require_member(room, caller));
    return errc::bad_request;  // direct rooms have exactly their two members
  }
  if (!ids::valid_user(user)) return errc::bad_request;
  BOOST_OUTCOME_TRY(auto before, get_room(caller, room));
  if (static_cast<int>(before.members.size()) >= opts_.max_room_members &&
      std::find(before.members.begin(), before.members.end(), user) == before.members.end())
    return errc::conflict;
  BOOST_OUTCOME_TRY(auto added, rooms_.add_member(room, user));
  if (added) publish_membership(room, user, "add", before.last_seq, caller);
  return rooms_.get(room);
}

result<room> service::remove_member(const std::string& caller, const std::string& room,
                                    const std::string& user) {
  if (ids::is_direct(room)) {
    BOOST_OUTCOME_TRY(require_member(room, caller));
    return errc::bad_request;
  }
  if (!ids::valid_user(user)) return errc::bad_request;
  BOOST_OUTCOME_TRY(auto before, get_room(caller, room));
  if (caller != user && caller != before.created_by) return errc::forbidden;
  BOOST_OUTCOME_TRY(auto removed, rooms_.remove_member(room, user));
  if (!removed) return errc::not_found;
  publish_membership(room, user, "remove", before.last_seq, caller);
  return rooms_.get(room);
}

result<page> service::messages(const std::string& caller, const std::string& room,
                               std::optional<std::int64_t> before,
                               std::optional<std::int64_t> after, int limit) {
  BOOST_OUTCOME_TRY(require_member(room, caller));
  return rooms_.history(room, before, after, limit);
}

result<join_snapshot> service::join(const std::string& room, const std::string& user,
                                    std::optional<std::int64_t> since, int limit) {
  BOOST_OUTCOME_TRY(require_member(room, user));
  return rooms_.join(room, user, since, limit);
}

result<std::int64_t> service::mark_read(const std::string& room, const std::string& user,
                                        std::int64_t seq) {
  BOOST_OUTCOME_TRY(require_member(room, user));
  return rooms_.set_read(room, user, seq);
}

result<std::vector<message>> service::range(const std::string& room, std::int64_t first,
                                            std::int64_t last) {
  return rooms_.range(room, first, last);
}

}  // namespace parley::chat
