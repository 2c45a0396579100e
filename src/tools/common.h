#pragma once
// What the networked subcommands (send, tail, bench) share: exit codes, the
// "where and as whom" options, token minting and the connect URL. Not thread-safe
// beyond what each function says; all functions are pure except the CLI registration.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

namespace CLI {
class App;
}

namespace parley::tools {

constexpr int k_exit_ok = 0;
constexpr int k_exit_failure = 1;
constexpr int k_exit_usage = 2;

// Print "parley <cmd>: <message>" on stderr; return k_exit_usage / k_exit_failure.
int usage_error(std::string_view cmd, std::string_view message);
int failure(std::string_view cmd, std::string_view message);

// --url, --token (or --secret/--user/--issuer/--audience to mint one), --to | --room.
struct target_options {
  std::string url;
  std::string token;
  std::string secret;
  std::string user;
  std::string issuer;
  std::string audience;
  std::string to;    // receiverId: the direct room with this user
  std::string room;  // a room id
};
void add_target_options(CLI::App& cmd, target_options& opts);

// The resolved connection: the token to present and the full ws:// URL (path /ws, with
// token and receiverId or room query parameters). nullopt with `*why` set on bad usage.
struct target {
  std::string token;
  std::string ws_url;
};
std::optional<target> resolve_target(const target_options& opts, std::string* why);

// The canonical direct room id of two users: dm:<min>:<max> in byte order.
std::string dm_room(std::string_view a, std::string_view b);

// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view s);

// A random client message id ("cli-" + 16 hex digits).
std::string random_cid();

// Unix time in seconds.
std::int64_t now_seconds();

// A frame's string field ("" when absent or not a string) and integer field.
std::string_view string_field(const boost::json::object& o, std::string_view key);
std::optional<std::int64_t> int_field(const boost::json::object& o, std::string_view key);

}  // namespace parley::tools
