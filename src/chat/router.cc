#include "chat/router.h"

#include <mutex>
#include <vector>

#include "base/ids.h"
#include "chat/connection.h"

namespace parley::chat {

void router::add_connection(const std::shared_ptr<connection>& c) {
  std::unique_lock lock(mu_);
  users_[c->user()][c.get()] = c;
}

void router::remove_connection(const connection* c) {
  std::unique_lock lock(mu_);
  for (auto it = rooms_.begin(); it != rooms_.end();) {
    it->second.erase(c);
    it = it->second.empty() ? rooms_.erase(it) : std::next(it);
  }
  for (auto it = users_.begin(); it != users_.end();) {
    it->second.erase(c);
    it = it->second.empty() ? users_.erase(it) : std::next(it);
  }
}

void router::subscribe(const std::string& room, const std::shared_ptr<connection>& c) {
  std::unique_lock lock(mu_);
  rooms_[room][c.get()] = c;
}

void router::unsubscribe(const std::string& room, const connection* c) {
  std::unique_lock lock(mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return;
  it->second.erase(c);
  if (it->second.empty()) rooms_.erase(it);
}

std::vector<std::string> router::joined_group_rooms() const {
  std::shared_lock lock(mu_);
  std::vector<std::string> out;
  for (const auto& [room, m] : rooms_)
    if (!ids::is_direct(room)) out.push_back(room);
  return out;
}

bool router::notify(const bus::record_ptr& r) {
  std::vector<std::string> member_list;
  member_set_ptr group;
  if (ids::is_direct(r->room)) {
    auto [a, b] = ids::direct_members(r->room);
    member_list.push_back(a);
    if (b != a) member_list.push_back(b);
  } else {
    group = members_.get_stale(r->room);
    if (!group) return false;
  }
  std::vector<std::shared_ptr<connection>> others;
  {
    std::shared_lock lock(mu_);
    auto rit = rooms_.find(r->room);
    // Members' connections that have not joined the room get `notify`; the connection
    // itself re-checks on its strand, where its joins are exact.
    auto notify_user = [&](const std::string& u) {
      auto it = users_.find(u);
      if (it == users_.end()) return;
      for (const auto& [p, w] : it->second) {
        bool is_joined = rit != rooms_.end() && rit->second.count(p) > 0;
        if (!is_joined)
          if (auto c = w.lock()) others.push_back(std::move(c));
      }
    };
    if (group) {
      if (group->size() < users_.size()) {
        for (const auto& u : *group) notify_user(u);
      } else {
        for (const auto& [u, m] : users_)
          if (group->count(u)) notify_user(u);
      }
    } else {
      for (const auto& u : member_list) notify_user(u);
    }
  }
  if (!others.empty()) {
    auto frame =
        std::make_shared<const std::string>(notify_frame(r->room, "message", r->seq, r->from));
    for (auto& c : others) c->post_record(r, frame, delivery::notify);
  }
  return true;
}

bool router::has_connections() const {
  std::shared_lock lock(mu_);
  return !users_.empty();
}

std::size_t router::connection_count() const {
  std::shared_lock lock(mu_);
  std::size_t n = 0;
  for (const auto& [u, m] : users_) n += m.size();
  return n;
}

namespace {
void collect(const std::unordered_map<const connection*, std::weak_ptr<connection>>& m,
             std::vector<std::shared_ptr<connection>>& out) {
  for (const auto& [p, w] : m)
    if (auto c = w.lock()) out.push_back(std::move(c));
}

// The targets of one record, in a vector the calling thread keeps: a fresh one for a
// 1,000-member room would grow through eleven allocations per message. Empties it (the
// connections' references go) when the record has been handed out.
class targets {
 public:
  targets() : v_(storage()) {}
  ~targets() { v_.clear(); }
  targets(const targets&) = delete;
  targets& operator=(const targets&) = delete;
  std::vector<std::shared_ptr<connection>>& get() { return v_; }

 private:
  static std::vector<std::shared_ptr<connection>>& storage() {
    thread_local std::vector<std::shared_ptr<connection>> v;
    return v;
  }
  std::vector<std::shared_ptr<connection>>& v_;
};
}  // namespace

void router::dispatch(const bus::record_ptr& r) {
  // Collect targets under the lock, post after releasing it (never hold a lock while
  // handing work to connections). post_record only posts, so nothing re-enters dispatch on
  // this thread while the scratch vector is in use.
  targets scratch;
  auto& to = scratch.get();
  switch (r->type) {
    case bus::kind::message: {
      {
        std::shared_lock lock(mu_);
        if (auto it = rooms_.find(r->room); it != rooms_.end()) collect(it->second, to);
      }
      if (!to.empty()) {
        auto frame = std::make_shared<const std::string>(message_frame(*r));
        for (auto& c : to) c->post_record(r, frame, delivery::message);
      }
      notify(r);
      break;
    }
    case bus::kind::typing:
    case bus::kind::read: {
      {
        std::shared_lock lock(mu_);
        if (auto it = rooms_.find(r->room); it != rooms_.end()) collect(it->second, to);
      }
      if (to.empty()) break;
      auto frame = std::make_shared<const std::string>(r->type == bus::kind::typing
                                                           ? typing_frame(r->room, r->user)
                                                           : read_frame(r->room, r->user, r->seq));
      for (auto& c : to) c->post_record(r, frame, delivery::ephemeral);
      break;
    }
    case bus::kind::membership: {
      bool add = r->op == "add";
      // Apply to the cache; a change the cache already shows was announced before (this
      // node's own publish, or the membership refresher): do not notify twice.
      bool news = add ? members_.add(r->room, r->user) : members_.remove(r->room, r->user);
      if (!news) break;
      {
        std::shared_lock lock(mu_);
        if (auto it = users_.find(r->user); it != users_.end()) collect(it->second, to);
      }
      if (to.empty()) break;
      auto frame = std::make_shared<const std::string>(
          notify_frame(r->room, add ? "added" : "removed", r->seq, r->by));
      for (auto& c : to) c->post_record(r, frame, add ? delivery::added : delivery::removed);
      break;
    }
  }
}

}  // namespace parley::chat
