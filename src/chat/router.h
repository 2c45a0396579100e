#pragma once
// The router: which of this node's connections get a bus record. Keeps two indexes, room ->
// connections that joined it, user -> that user's connections, and turns each record into
// frames, serialised once and shared by every receiver:
//   message    -> `message` to the room's joined connections (each connection drops what it
//                 has seen and fills gaps, see connection.h); `notify` to the members'
//                 connections that have not joined it
//   typing/read-> the room's joined connections except the originating one
//   membership -> the user's connections: `left` where joined (removed), else `notify`
// Thread-safe; dispatch() never blocks (it only posts to connections' strands).
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "bus/bus.h"
#include "chat/frames.h"
#include "chat/membership.h"

namespace parley::chat {

class connection;

class router {
 public:
  explicit router(membership_cache& members) : members_(members) {}

  void add_connection(const std::shared_ptr<connection>& c);
  // Removes the connection from every index.
  void remove_connection(const connection* c);
  void subscribe(const std::string& room, const std::shared_ptr<connection>& c);
  void unsubscribe(const std::string& room, const connection* c);

  void dispatch(const bus::record_ptr& r);
  // The `notify` part of a message record. False (nothing sent) when the room is a group
  // whose members are not cached: the caller loads them and calls again.
  bool notify(const bus::record_ptr& r);
  bool has_connections() const;

  std::size_t connection_count() const;
  // Group rooms that at least one local connection joined (for the membership refresher).
  std::vector<std::string> joined_group_rooms() const;

 private:
  using conn_map = std::unordered_map<const connection*, std::weak_ptr<connection>>;
  membership_cache& members_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, conn_map> rooms_;
  std::unordered_map<std::string, conn_map> users_;
};

}  // namespace parley::chat
