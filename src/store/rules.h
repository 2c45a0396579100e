#pragma once
// Rules of the store contract (store.h) that every backend applies the same way, so that
// SQLite and PostgreSQL agree on them (paging.h holds the paging rules). Any thread.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/paging.h"
#include "store/store.h"

namespace parley::store {

// The members of a new group room, sorted and without repeats; `invalid` for a bad room
// id, creator, name or member.
result<std::vector<std::string>> new_group_members(const std::string& room_id,
                                                   const std::string& name,
                                                   const std::string& creator,
                                                   const std::vector<std::string>& members);

// The record of a group room just created with `members` (from new_group_members).
room new_group_room(const std::string& room_id, const std::string& name,
                    const std::string& creator, std::int64_t now, std::vector<std::string> members);

// Membership of a direct room, read from its id (protocol.md 3) whether or not its rows
// exist yet; nullopt for a group room (ask the database).
std::optional<bool> direct_membership(const std::string& room_id, const std::string& user);

// The snapshot of a join once last_seq and read_seq are read (store.h, snapshot_for_join()): without
// `since` the newest `limit` messages, with it those after since (clamped to last_seq).
// `newest(bound, n)` and `oldest(after, n)` fetch rows as the backend's history() and
// page_after() do (n = limit + 1).
template <class Newest, class Oldest>
result<join_snapshot> make_join_snapshot(std::int64_t last_seq, std::int64_t read_seq,
                                         std::optional<std::int64_t> since, int limit,
                                         Newest&& newest, Oldest&& oldest) {
  join_snapshot s;
  s.last_seq = last_seq;
  s.read_seq = read_seq;
  if (since) {
    BOOST_OUTCOME_TRY(auto rows, oldest(clamp_since(*since, last_seq), limit + 1));
    s.replay = finish_page_asc(std::move(rows), limit);
  } else {
    BOOST_OUTCOME_TRY(auto rows, newest(history_bound(std::nullopt), limit + 1));
    s.replay = finish_page_desc(std::move(rows), limit);
  }
  return s;
}

}  // namespace parley::store
