#pragma once
// The one place where errors become wire codes (protocol.md section 4's table), HTTP
// statuses and WebSocket close codes. Every module's errc goes through here.
#include <string_view>
#include <system_error>

namespace parley::net {

struct wire_error {
  std::string_view code;  // protocol.md error code
  int http_status;        // for the HTTP API
  int close_code;         // 0: the connection stays open
};

// Where the error is answered: not_member is `not_member` in an error frame, 403
// `forbidden` when refusing an upgrade, and 404 `not_found` in the HTTP API (which never
// reveals whether a room one may not see exists).
enum class context { frame, upgrade, api };
wire_error to_wire(std::error_code ec, context where = context::frame);

}  // namespace parley::net
