#pragma once
// The one table where errors become what a client sees: the protocol's error code (error
// frames, HTTP bodies), the HTTP status and the WebSocket close code with its reason. Every
// module's errc reaches the edge through to_wire(); nothing in net writes a status, a code
// or a close code of its own, except the codec's protocol failures (ws::close_code) and
// the echo of a peer's close code.
#include <cstdint>
#include <string_view>
#include <system_error>

#include "base/result.h"

namespace parley::net {

// Failures of the network front itself (the HTTP and WebSocket layers).
enum class errc {
  method_not_allowed = 1,  // a known path, another method: 405 `bad_request`
  version_required,        // upgrade without WebSocket version 13: 426 `bad_request`
  shutting_down,           // draining: 503 on an upgrade, 1001 on an open connection
  slow_consumer,           // the send queue overflowed: close 1008
  idle_timeout,            // no frame from the client for idle_timeout_s: close 4002
  invalid_utf8,            // a text message that is not UTF-8: close 1007
  internal,                // the session cannot run: close 1011
};
PARLEY_ERRC_CATEGORY(parley::net, errc)

// The application's close codes (RFC 6455 allows 4000-4999); the RFC's are ws::close_code.
namespace close_code {
constexpr std::uint16_t unauthorized = 4001;  // token expired, or a refreshed token refused
constexpr std::uint16_t idle = 4002;
}  // namespace close_code

struct wire_error {
  std::string_view code;            // protocol.md's error code
  int http_status;                  // for HTTP answers
  std::uint16_t close_code = 0;     // 0: the connection stays open
  std::string_view close_reason{};  // with close_code
};

// Where the error is answered, when that changes the answer: not_member is `not_member` in
// an error frame, 403 `forbidden` when refusing an upgrade, and 404 `not_found` in the HTTP
// API (which never reveals whether a room one may not see exists); a token refused before
// the upgrade or by the API is `unauthorized` whatever the reason, in a frame an expired
// one is `token_expired`.
enum class context { frame, upgrade, api };
wire_error to_wire(std::error_code ec, context where = context::frame);

}  // namespace parley::net

PARLEY_ERRC_TRAIT(parley::net::errc)
