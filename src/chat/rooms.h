#pragma once
// chat::rooms: chat's one way to the store. The rest of chat (the service's rules, the
// connections) and everything above chat see rooms, members, messages and read markers
// only through here, with errors already chat::errc: the store's errors are mapped in this
// file and nowhere else (from_store in errors.h: unavailable and closed stay `unavailable`,
// not_found becomes `not_member`, conflict `conflict`, invalid `bad_request`, the rest
// `internal`). It also holds the store-level rules every caller would otherwise repeat:
// a direct room's rows are created before it is joined or marked read, and a direct room
// nobody wrote to yet has an empty history rather than none.
//
// The value types are chat's names for the store's records (aliases: one definition, no
// copies between layers).
//
// Threads: thread-safe. append() never blocks (the store's writer answers); every other
// call is BLOCKING: run it through service::blocking(), never on a network thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "store/store.h"

namespace parley::chat {

using message = store::message;
using room = store::room;
using room_kind = store::room_kind;
using room_summary = store::room_summary;
using page = store::page;
using join_snapshot = store::join_snapshot;
using append_request = store::append_request;
using sent = store::append_result;  // the stored message, and whether its cid repeated

class rooms {
 public:
  explicit rooms(store::store& st) : store_(st) {}

  void append(append_request req, std::function<void(result<sent>)> done);

  result<std::vector<std::string>> members(const std::string& room_id);
  // Every room of `room_ids` that exists, with its members (one read for all of them).
  result<std::unordered_map<std::string, std::vector<std::string>>> members_of(
      const std::vector<std::string>& room_ids);

  // The join snapshot (last_seq, read_seq, replay page); a direct room is created first.
  result<join_snapshot> join(const std::string& room_id, const std::string& user,
                             std::optional<std::int64_t> since, int limit);
  // Up to `limit` messages before `before` (newest when empty), or after `after` when given.
  result<page> history(const std::string& room_id, std::optional<std::int64_t> before,
                       std::optional<std::int64_t> after, int limit);
  // Messages first..last (a gap fill).
  result<std::vector<message>> range(const std::string& room_id, std::int64_t first,
                                     std::int64_t last);
  // Moves the read marker forward; returns it. A direct room is created first.
  result<std::int64_t> set_read(const std::string& room_id, const std::string& user,
                                std::int64_t seq);
  result<std::optional<message>> find_cid(const std::string& room_id, const std::string& sender,
                                          const std::string& cid);

  // `conflict`: the id exists.
  result<room> create_group(const std::string& room_id, const std::string& name,
                            const std::string& creator, const std::vector<std::string>& members);
  // The room with its members (a direct room is created first).
  result<room> get(const std::string& room_id);
  result<bool> add_member(const std::string& room_id, const std::string& user);
  result<bool> remove_member(const std::string& room_id, const std::string& user);
  result<std::vector<room_summary>> rooms_of(const std::string& user);

  // The store's own health connection (never behind other calls).
  bool ping();

 private:
  result<void> ensure_direct(const std::string& room_id);

  store::store& store_;
};

}  // namespace parley::chat
