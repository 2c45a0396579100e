#pragma once
// Per-node cache of group room membership, so that the send path and the router can check
// membership without a store read. Entries expire after `ttl` (default 5 s, architecture.md
// "Membership"), so a change made on another node takes effect here within seconds even
// when its bus record is lost. Direct rooms need no lookup (their id names both members).
// Thread-safe; never blocks (loads are the caller's business, on the blocking pool).
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace parley::chat {

using member_set = std::unordered_set<std::string>;
using member_set_ptr = std::shared_ptr<const member_set>;

class membership_cache {
 public:
  explicit membership_cache(std::chrono::milliseconds ttl = std::chrono::seconds(5)) : ttl_(ttl) {}

  // The cached members of a group room, or nullptr when unknown or expired.
  member_set_ptr get(const std::string& room) const;
  // Like get(), but also returns expired entries (for best-effort uses such as notify).
  member_set_ptr get_stale(const std::string& room) const;
  void put(const std::string& room, member_set members);
  // add/remove return whether the change is news: true when the room is not cached or the
  // user's membership changed, false when the cache already reflected it (the change was
  // applied before, e.g. by the refresher or by this node's own publish).
  bool add(const std::string& room, const std::string& user);
  bool remove(const std::string& room, const std::string& user);
  void forget(const std::string& room);

 private:
  struct entry {
    member_set_ptr members;
    std::chrono::steady_clock::time_point loaded;
  };
  std::chrono::milliseconds ttl_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, entry> rooms_;
};

}  // namespace parley::chat
