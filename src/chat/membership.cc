#include "chat/membership.h"

namespace parley::chat {

member_set_ptr membership_cache::get(const std::string& room) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end() || std::chrono::steady_clock::now() - it->second.loaded > ttl_)
    return nullptr;
  return it->second.members;
}

member_set_ptr membership_cache::get_stale(const std::string& room) const {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : it->second.members;
}

void membership_cache::put(const std::string& room, member_set members) {
  auto p = std::make_shared<const member_set>(std::move(members));
  std::lock_guard lock(mu_);
  rooms_[room] = entry{std::move(p), std::chrono::steady_clock::now()};
}

// add/remove copy the set (copy-on-write) so readers holding the old pointer stay valid.
bool membership_cache::add(const std::string& room, const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return true;
  if (it->second.members->count(user)) return false;
  auto next = std::make_shared<member_set>(*it->second.members);
  next->insert(user);
  it->second.members = std::move(next);
  return true;
}

bool membership_cache::remove(const std::string& room, const std::string& user) {
  std::lock_guard lock(mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) return true;
  if (!it->second.members->count(user)) return false;
  auto next = std::make_shared<member_set>(*it->second.members);
  next->erase(user);
  it->second.members = std::move(next);
  return true;
}

void membership_cache::forget(const std::string& room) {
  std::lock_guard lock(mu_);
  rooms_.erase(room);
}

}  // namespace parley::chat
