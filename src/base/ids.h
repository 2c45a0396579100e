#pragma once
// Identifier rules of protocol.md: user ids, direct room ids (`dm:a:b`), group room ids
// (`g:...`), client ids (`cid`) and request ids (`rid`). Pure functions, any thread.
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace parley::ids {

// 1..128 bytes of [A-Za-z0-9_.@-].
bool valid_user(std::string_view s) noexcept;
// `g:` + 1..64 of [A-Za-z0-9_-].
bool valid_group_room(std::string_view s) noexcept;
// `dm:a:b` with valid users and a <= b (byte order).
bool valid_direct_room(std::string_view s) noexcept;
bool valid_room(std::string_view s) noexcept;
bool is_direct(std::string_view room) noexcept;
// The canonical direct room of two users (order does not matter).
std::string direct_room(std::string_view a, std::string_view b);
// The two members of a valid direct room id.
std::pair<std::string, std::string> direct_members(std::string_view room);
// 1..64 bytes, anything but U+0000 (PostgreSQL cannot store it).
bool valid_cid(std::string_view s) noexcept;
// Message text as stored: no U+0000 (PostgreSQL's text cannot hold it; both backends refuse
// it so that a message means the same everywhere). Length rules are the service's.
bool valid_text(std::string_view s) noexcept;
bool valid_rid(std::string_view s) noexcept;
// A new group room id: `g:` + 20 random [a-z0-9] characters.
std::string new_group_id();
// A new message id: 26 characters, time-ordered (ms timestamp + randomness), like a ULID.
std::string new_message_id(std::int64_t ts_ms);
// A new session id (random, 16 hex characters).
std::string new_session_id();

}  // namespace parley::ids
