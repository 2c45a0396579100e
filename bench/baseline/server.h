#pragma once
// parley-baseline: the least a WebSocket fan-out server must do, as a floor to compare
// parleyd with under the same `parley bench`. No authentication (the token's `sub` is read,
// not verified), no storage, no limits beyond a send-queue bound.
//
// Speaks this subset of docs/protocol.md: GET /ws?token=..[&room=R] upgrades, answers
// `hello`, then for `room` (or a `join` frame) `joined` and an empty `history`; `ping` ->
// `pong`; `send` -> `ack` to the sender, then `message` with the room's next seq to every
// connection of the room (the sender's included). POST /api/rooms answers 201 with a fresh
// "g:b<n>" id (any members accepted); GET /healthz 200; anything else 404.
//
// Shape (Beast's chat-multi example): listener, http_session, websocket_session, room
// registry. One io_context, N threads, a strand per connection; one write in flight per
// connection with a queue behind it; TCP_NODELAY; each message serialized once and shared.
// Order: a room's seq is assigned and the frame queued to every member under the room's
// lock, so every member sees the room in seq order, and the sender sees its ack first.
#include <cstdint>
#include <string>

namespace parley::baseline {

struct server_options {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  int threads = 0;  // 0: hardware concurrency
};

// Binds, prints "parley-baseline listening on HOST:PORT" on stdout, serves until SIGINT or
// SIGTERM. Returns the exit status (1 if it could not listen).
int run(const server_options& opts);

}  // namespace parley::baseline
