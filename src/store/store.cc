// Backend-neutral defaults of the store interface (store.h) and the shared rules (rules.h).
#include "store/store.h"

#include <algorithm>

#include "base/ids.h"
#include "store/rules.h"

namespace parley::store {

result<std::vector<std::string>> new_group_members(const std::string& room_id,
                                                   const std::string& name,
                                                   const std::string& creator,
                                                   const std::vector<std::string>& members) {
  if (!ids::valid_group_room(room_id) || !ids::valid_user(creator) || !ids::valid_text(name))
    return make_error_code(errc::invalid);
  std::vector<std::string> users = members;
  std::sort(users.begin(), users.end());
  users.erase(std::unique(users.begin(), users.end()), users.end());
  for (const auto& u : users)
    if (!ids::valid_user(u)) return make_error_code(errc::invalid);
  return users;
}

room new_group_room(const std::string& room_id, const std::string& name,
                    const std::string& creator, std::int64_t now,
                    std::vector<std::string> members) {
  room r;
  r.id = room_id;
  r.kind = room_kind::group;
  r.name = name;
  r.created_by = creator;
  r.created_at = now;
  r.members = std::move(members);
  return r;
}

std::optional<bool> direct_membership(const std::string& room_id, const std::string& user) {
  if (!ids::is_direct(room_id)) return std::nullopt;
  if (!ids::valid_direct_room(room_id)) return false;
  auto [a, b] = ids::direct_members(room_id);
  return user == a || user == b;
}

result<std::unordered_map<std::string, std::vector<std::string>>> store::members_of(
    const std::vector<std::string>& room_ids) {
  std::unordered_map<std::string, std::vector<std::string>> out;
  out.reserve(room_ids.size());
  for (const auto& id : room_ids) {
    auto m = members(id);
    if (m) {
      out.insert_or_assign(id, std::move(m).value());
    } else if (m.error() != make_error_code(errc::not_found)) {
      return m.error();
    }
  }
  return out;
}

}  // namespace parley::store
