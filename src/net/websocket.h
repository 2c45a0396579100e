#pragma once
// Internal to net: hand-over from the HTTP session to a WebSocket session.
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "base/ids.h"
#include "net/sessions.h"

namespace parley::net {

// Completes a checked upgrade on `socket` for an authenticated `user` (answers 101 with
// Sec-WebSocket-Accept `accept`) and runs the session.
void start_websocket_session(std::shared_ptr<shared_state> state,
                             boost::asio::ip::tcp::socket&& socket, const std::string& accept,
                             std::string user, std::int64_t exp_ms,
                             std::optional<std::string> default_room);

}  // namespace parley::net
