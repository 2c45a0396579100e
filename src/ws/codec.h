#pragma once
// ws codec: RFC 6455 framing, without I/O: the server side for parleyd, and the few client
// pieces the load generator (`parley bench`) reads and writes frames with.
//
// parleyd speaks WebSocket through this codec and its own session (net/websocket_session.cc)
// rather than Beast's websocket::stream: Beast's stream keeps ~2.7 kB of state per
// connection (a 1.5 kB read buffer inside it, always allocated), which alone is most of the
// memory budget of an idle connection (docs/bench/log.md). What the session needs is
// small: text frames out (never fragmented, never masked, no extensions), and client frames
// in (always masked, possibly fragmented, control frames between fragments).
//
// Pure functions and one small value type; Beast's own RFC 6455 helpers are used where they
// exist (close-code validity, UTF-8 check, the accept key).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace parley::ws {

enum class opcode : std::uint8_t {
  continuation = 0,
  text = 1,
  binary = 2,
  close = 8,
  ping = 9,
  pong = 10
};

constexpr bool is_control(opcode op) noexcept { return static_cast<std::uint8_t>(op) >= 8; }

// RFC 6455 7.4.1 close codes this server sends (the application's own, 4000-4999, are
// net/errors.h's).
namespace close_code {
constexpr std::uint16_t normal = 1000;
constexpr std::uint16_t going_away = 1001;      // server shutting down
constexpr std::uint16_t protocol_error = 1002;  // unreadable input
constexpr std::uint16_t no_status = 1005;       // a close frame without a code (never sent)
constexpr std::uint16_t invalid_data = 1007;    // text that is not UTF-8
constexpr std::uint16_t policy = 1008;          // slow consumer, error flood
constexpr std::uint16_t too_big = 1009;         // frame or message over the limit
constexpr std::uint16_t internal = 1011;
}  // namespace close_code

// The header of one frame.
struct frame_header {
  bool fin = false;
  opcode op = opcode::text;
  std::uint64_t length = 0;  // payload bytes
  std::uint32_t mask = 0;    // the masking key, bytes in wire order (0: a server frame)
  std::size_t size = 0;      // header bytes (2 to 14)
};

enum class parse_status {
  incomplete,      // fewer bytes than the header needs: read more
  ok,              // `h` is filled in
  protocol_error,  // close with 1002: RSV bits, unknown opcode, unmasked, bad control frame
  too_big,         // close with 1009: payload longer than the limit (`h` is filled in)
};

// Parses the header of a client frame at the start of `data`; `max_payload` bounds the
// payload length of data frames.
parse_status parse_client_header(std::span<const std::uint8_t> data, std::uint64_t max_payload,
                                 frame_header& h) noexcept;

// The client side: parses the header of a server frame (never masked: a masked one is a
// protocol_error, as is everything parse_client_header refuses besides the mask).
parse_status parse_server_header(std::span<const std::uint8_t> data, std::uint64_t max_payload,
                                 frame_header& h) noexcept;

// Unmasks `n` payload bytes in place (`mask` as in frame_header).
void unmask(std::uint8_t* p, std::size_t n, std::uint32_t mask) noexcept;

// Appends one complete server frame (FIN, unmasked) with `payload` to `out`.
void append_frame(std::string& out, opcode op, std::string_view payload);

// Appends one complete client frame (FIN, masked with `mask`: the payload is XORed).
void append_masked_frame(std::string& out, opcode op, std::string_view payload, std::uint32_t mask);

// A close frame's body: `code` (big-endian) and `reason`, cut as append_close cuts it; empty
// for code 0.
std::string close_body(std::uint16_t code, std::string_view reason);

// Appends a close frame: `code` and `reason` (cut, at a UTF-8 character boundary, to the
// 123 bytes a control frame allows);
// code 0 sends a close frame without a body.
void append_close(std::string& out, std::uint16_t code, std::string_view reason);

// A received close frame's body, checked (RFC 6455 5.5.1, 7.4).
struct close_info {
  std::uint16_t code = 1005;  // 1005: the frame had no code
  std::uint16_t error = 0;    // non-zero: the body is invalid, close with this code
};
close_info parse_close(std::string_view payload) noexcept;

bool valid_utf8(std::string_view text) noexcept;

// The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key.
std::string accept_key(std::string_view client_key);

// A fresh random Sec-WebSocket-Key (a client's handshake).
std::string make_client_key();

// True for a Sec-WebSocket-Key as RFC 6455 4.1 requires: base64 of 16 bytes (24 chars).
bool valid_client_key(std::string_view key) noexcept;

}  // namespace parley::ws
