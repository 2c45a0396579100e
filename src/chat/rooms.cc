#include "chat/rooms.h"

#include "base/clock.h"
#include "base/ids.h"
#include "chat/errors.h"

namespace parley::chat {
namespace {

// The store's result with its error mapped to chat::errc.
template <class T>
result<T> mapped(result<T> r) {
  if (!r) return from_store(r.error());
  return r;
}

}  // namespace

void rooms::append(append_request req, std::function<void(result<sent>)> done) {
  store_.append(std::move(req),
                [done = std::move(done)](result<sent> r) { done(mapped(std::move(r))); });
}

result<std::vector<std::string>> rooms::members(const std::string& room_id) {
  return mapped(store_.members(room_id));
}

result<std::unordered_map<std::string, std::vector<std::string>>> rooms::members_of(
    const std::vector<std::string>& room_ids) {
  return mapped(store_.members_of(room_ids));
}

result<void> rooms::ensure_direct(const std::string& room_id) {
  if (!ids::is_direct(room_id)) return success();
  return mapped(store_.ensure_direct_room(room_id, now_ms()));
}

result<join_snapshot> rooms::join(const std::string& room_id, const std::string& user,
                                  std::optional<std::int64_t> since, int limit) {
  BOOST_OUTCOME_TRY(ensure_direct(room_id));
  return mapped(store_.snapshot_for_join(room_id, user, since, limit));
}

result<page> rooms::history(const std::string& room_id, std::optional<std::int64_t> before,
                            std::optional<std::int64_t> after, int limit) {
  auto r = after ? store_.page_after(room_id, *after, limit) : store_.history(room_id, before, limit);
  if (!r && r.error() == store::errc::not_found && ids::is_direct(room_id))
    return page{};  // a direct room nobody wrote to yet
  return mapped(std::move(r));
}

result<std::vector<message>> rooms::range(const std::string& room_id, std::int64_t first,
                                          std::int64_t last) {
  return mapped(store_.range(room_id, first, last));
}

result<std::int64_t> rooms::set_read(const std::string& room_id, const std::string& user,
                                     std::int64_t seq) {
  BOOST_OUTCOME_TRY(ensure_direct(room_id));
  return mapped(store_.set_read(room_id, user, seq));
}

result<std::optional<message>> rooms::find_cid(const std::string& room_id,
                                               const std::string& sender, const std::string& cid) {
  return mapped(store_.find_cid(room_id, sender, cid));
}

result<room> rooms::create_group(const std::string& room_id, const std::string& name,
                                 const std::string& creator,
                                 const std::vector<std::string>& members) {
  return mapped(store_.create_group(room_id, name, creator, members, now_ms()));
}

result<room> rooms::get(const std::string& room_id) {
  BOOST_OUTCOME_TRY(ensure_direct(room_id));
  return mapped(store_.get_room(room_id));
}

result<bool> rooms::add_member(const std::string& room_id, const std::string& user) {
  return mapped(store_.add_member(room_id, user, now_ms()));
}

result<bool> rooms::remove_member(const std::string& room_id, const std::string& user) {
  return mapped(store_.remove_member(room_id, user));
}

result<std::vector<room_summary>> rooms::rooms_of(const std::string& user) {
  return mapped(store_.rooms_of(user));
}

bool rooms::ping() { return static_cast<bool>(store_.ping()); }

}  // namespace parley::chat
