#pragma once
// Internal to net: hand-over from the HTTP session to a WebSocket session.
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <optional>
#include <string>

#include "base/ids.h"
#include "net/sessions.h"

namespace parley::net {

// Accepts the upgrade `req` on `stream` for an authenticated `user` and runs the session.
void start_websocket_session(std::shared_ptr<shared_state> state, boost::beast::tcp_stream&& stream,
                             boost::beast::http::request<boost::beast::http::string_body> req,
                             std::string user, std::int64_t exp_ms,
                             std::optional<std::string> default_room);

}  // namespace parley::net
