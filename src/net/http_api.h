#pragma once
// HTTP routes other than the WebSocket upgrade: the /api of protocol.md section 6, the
// dev token route, health, readiness, metrics and the web page. Beast-free, so it is cheap
// to compile and test.
//
// Threads: handle_http() BLOCKS for routes where needs_blocking() is true (store access):
// run those on the service's blocking pool; the others are cheap and may run anywhere.
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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

bool needs_blocking(const http_request_info& req);
http_reply handle_http(chat::service& svc, const http_options& opts, const http_request_info& req);

// {"error":code,"message":msg} with the status of `ec` in the API context.
http_reply error_reply(int status, std::string_view code, std::string_view message);

}  // namespace parley::net
