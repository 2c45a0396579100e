#pragma once
// Client frame parsing and server frame serialisation (protocol.md section 4).
// Pure functions, any thread. Server frames are serialised once and shared
// (frame_ptr) among every connection that receives them.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "bus/bus.h"
#include "store/store.h"

namespace parley::chat {

using frame_ptr = std::shared_ptr<const std::string>;

enum class frame_type { send, join, leave, history, typing, read, auth, ping };

struct client_frame {
  frame_type type = frame_type::ping;
  bool plain_text = false;  // a seed-compatible plain-text send
  std::optional<std::string> rid;
  std::optional<std::string> room;     // absent: the default room (send only)
  std::string text;                    // send
  std::optional<std::string> cid;      // send
  std::optional<std::int64_t> since;   // join
  std::optional<std::int64_t> before;  // history
  int limit = 50;                      // history (1..200)
  std::int64_t seq = 0;                // read
  std::string token;                   // auth
};

// What a bad frame still tells us, for the error frame's `ref` and `rid`.
struct parse_failure {
  std::string message;
  std::optional<std::string> ref;  // cid if present, else the type string; nullopt = null
  std::optional<std::string> rid;
};

// Parses one text frame. On failure returns parse_failure (the answer is bad_request).
// Room ids are validated here (syntax only); membership is the service's business.
struct parse_outcome {
  std::optional<client_frame> frame;
  parse_failure failure;
};
parse_outcome parse_client_frame(std::string_view text);

// Server frames.
std::string hello_frame(const std::string& user, const std::string& session,
                        const std::string& node, std::int64_t server_time);
std::string ack_frame(const store::message& m, const std::optional<std::string>& rid);
std::string message_frame(const store::message& m);
// The same frame from a `message` record (the router's, built once for every receiver).
std::string message_frame(const bus::record& r);
std::string joined_frame(const std::string& room, std::int64_t last_seq, std::int64_t read_seq,
                         const std::optional<std::string>& rid);
// `messages[first, last)` as one history frame.
std::string history_frame(const std::string& room, const std::vector<store::message>& messages,
                          std::size_t first, std::size_t last, bool more,
                          const std::optional<std::string>& rid);
std::string typing_frame(const std::string& room, const std::string& user);
std::string read_frame(const std::string& room, const std::string& user, std::int64_t seq);
std::string notify_frame(const std::string& room, const std::string& event, std::int64_t seq,
                         const std::string& from);
std::string left_frame(const std::string& room, const std::optional<std::string>& reason,
                       const std::optional<std::string>& rid);
std::string pong_frame(std::int64_t server_time, const std::optional<std::string>& rid);
std::string auth_ok_frame(std::int64_t exp_ms, const std::optional<std::string>& rid);
std::string error_frame(std::string_view code, std::string_view message,
                        const std::optional<std::string>& ref,
                        const std::optional<std::string>& rid);

// The JSON object of a message as used in `message` frames, history and the HTTP API
// (without "type"). Serialised text.
std::string message_json(const store::message& m);
std::string messages_json(const std::vector<store::message>& ms);

}  // namespace parley::chat
