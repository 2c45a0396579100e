#pragma once
// HTTP routes other than the WebSocket upgrade: the /api of protocol.md section 6, the
// dev token route, health, readiness, metrics and the web page. Beast-free, so it is cheap
// to compile and test.
//
// Threads: handle_http() never blocks and may be called on a network thread. Routes that
// need the store run on the service's store pool (a full pool is 503 `unavailable` at
// once), a message send completes on the store's writer, /readyz on the service's health
// thread: the reply comes through `done`, exactly once, on whichever thread finished.
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "net/errors.h"

namespace parley::chat {
class service;
}

namespace parley::net {

struct http_request_info {
  std::string method;  // "GET", "POST", ...
  std::string path;    // percent-decoded segments joined by '/'; e.g. /api/rooms/g:x/members
  std::map<std::string, std::string> query;  // decoded
  std::optional<std::string> bearer;         // token from "Authorization: Bearer"
  std::string body;
};

struct http_reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra response headers
};

struct http_options {
  bool dev = false;
  std::string dev_secret;
  std::string web_root;
  std::string bus_state;  // reported by /readyz, filled per request by the caller
};

using reply_fn = std::function<void(http_reply)>;
void handle_http(chat::service& svc, const http_options& opts, const http_request_info& req,
                 reply_fn done);

// {"error":code,"message":message} with the code and status to_wire(ec, where) gives
// (503 adds `Retry-After: 1`).
http_reply error_reply(std::error_code ec, std::string_view message, context where = context::api);

}  // namespace parley::net
