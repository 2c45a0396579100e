#include "ws/codec.h"

#include <boost/beast/websocket/detail/frame.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/beast/websocket/detail/utf8_checker.hpp>
#include <cstring>

namespace parley::ws {

namespace bwd = boost::beast::websocket::detail;

namespace {

// Both directions: `masked` is what the receiving side requires of the mask bit (set on
// every client frame, clear on every server frame, RFC 6455 5.1).
parse_status parse_header(std::span<const std::uint8_t> d, std::uint64_t max_payload, bool masked,
                          frame_header& h) noexcept {
  if (d.size() < 2) return parse_status::incomplete;
  const std::uint8_t b0 = d[0], b1 = d[1];
  if (b0 & 0x70) return parse_status::protocol_error;  // RSV1-3: no extension negotiated
  h.fin = (b0 & 0x80) != 0;
  const std::uint8_t op = b0 & 0x0f;
  switch (op) {
    case 0:
    case 1:
    case 2:
    case 8:
    case 9:
    case 10:
      break;
    default:
      return parse_status::protocol_error;
  }
  h.op = static_cast<opcode>(op);
  if (((b1 & 0x80) != 0) != masked) return parse_status::protocol_error;
  const std::size_t key = masked ? 4 : 0;
  std::uint64_t len = b1 & 0x7f;
  std::size_t need = 2;
  if (len == 126) {
    need += 2;
    if (d.size() < need + key) return parse_status::incomplete;
    len = (std::uint64_t{d[2]} << 8) | d[3];
    if (len < 126) return parse_status::protocol_error;  // not the minimal encoding
  } else if (len == 127) {
    need += 8;
    if (d.size() < need + key) return parse_status::incomplete;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | d[2 + i];
    if (len < 65536 || (len >> 63)) return parse_status::protocol_error;
  }
  if (d.size() < need + key) return parse_status::incomplete;
  h.mask = 0;
  if (masked) std::memcpy(&h.mask, d.data() + need, 4);
  h.size = need + key;
  h.length = len;
  if (is_control(h.op)) {
    if (!h.fin || len > 125) return parse_status::protocol_error;
  } else if (len > max_payload) {
    return parse_status::too_big;
  }
  return parse_status::ok;
}

// The frame header of `n` payload bytes: FIN, `op`, the shortest length form, and the mask
// bit when `masked` (the key itself follows it). Returns the header's size.
std::size_t put_header(char (&h)[10], opcode op, std::size_t n, bool masked) noexcept {
  const char m = masked ? static_cast<char>(0x80) : 0;
  h[0] = static_cast<char>(0x80 | static_cast<std::uint8_t>(op));
  if (n < 126) {
    h[1] = static_cast<char>(m | static_cast<char>(n));
    return 2;
  }
  if (n < 65536) {
    h[1] = static_cast<char>(m | 126);
    h[2] = static_cast<char>(n >> 8);
    h[3] = static_cast<char>(n & 0xff);
    return 4;
  }
  h[1] = static_cast<char>(m | 127);
  for (int i = 0; i < 8; ++i)
    h[2 + i] = static_cast<char>((std::uint64_t{n} >> (56 - 8 * i)) & 0xff);
  return 10;
}

}  // namespace

parse_status parse_client_header(std::span<const std::uint8_t> d, std::uint64_t max_payload,
                                 frame_header& h) noexcept {
  return parse_header(d, max_payload, true, h);
}

parse_status parse_server_header(std::span<const std::uint8_t> d, std::uint64_t max_payload,
                                 frame_header& h) noexcept {
  return parse_header(d, max_payload, false, h);
}

void unmask(std::uint8_t* p, std::size_t n, std::uint32_t mask) noexcept {
  std::uint8_t key[4];
  std::memcpy(key, &mask, 4);
  std::size_t i = 0;
  // Eight bytes at a time (the key repeated), then the tail.
  std::uint64_t k8;
  std::uint8_t kk[8] = {key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]};
  std::memcpy(&k8, kk, 8);
  for (; i + 8 <= n; i += 8) {
    std::uint64_t v;
    std::memcpy(&v, p + i, 8);
    v ^= k8;
    std::memcpy(p + i, &v, 8);
  }
  for (; i < n; ++i) p[i] ^= key[i & 3];
}

void append_frame(std::string& out, opcode op, std::string_view payload) {
  char h[10];
  out.append(h, put_header(h, op, payload.size(), false));
  out.append(payload);
}

void append_masked_frame(std::string& out, opcode op, std::string_view payload,
                         std::uint32_t mask) {
  char h[10];
  out.append(h, put_header(h, op, payload.size(), true));
  out.append(reinterpret_cast<const char*>(&mask), 4);
  const std::size_t at = out.size();
  out.append(payload);
  unmask(reinterpret_cast<std::uint8_t*>(out.data() + at), payload.size(), mask);
}

std::string close_body(std::uint16_t code, std::string_view reason) {
  std::string body;
  if (code == 0) return body;
  if (reason.size() > 123) {
    // Cut at a character boundary: the reason must stay valid UTF-8.
    std::size_t n = 123;
    while (n > 0 && (static_cast<unsigned char>(reason[n]) & 0xC0) == 0x80) --n;
    reason = reason.substr(0, n);
  }
  body.reserve(2 + reason.size());
  body.push_back(static_cast<char>(code >> 8));
  body.push_back(static_cast<char>(code & 0xff));
  body.append(reason);
  return body;
}

void append_close(std::string& out, std::uint16_t code, std::string_view reason) {
  append_frame(out, opcode::close, close_body(code, reason));
}

close_info parse_close(std::string_view p) noexcept {
  close_info ci;
  if (p.empty()) return ci;
  if (p.size() == 1) {
    ci.error = 1002;
    return ci;
  }
  ci.code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(p[0]) << 8) |
                                       static_cast<std::uint8_t>(p[1]));
  if (!bwd::is_valid_close_code(ci.code))
    ci.error = 1002;
  else if (!valid_utf8(p.substr(2)))
    ci.error = 1007;
  return ci;
}

bool valid_utf8(std::string_view text) noexcept {
  return bwd::check_utf8(text.data(), text.size());
}

std::string accept_key(std::string_view client_key) {
  bwd::sec_ws_accept_type accept;
  bwd::make_sec_ws_accept(accept, client_key);
  return std::string(accept.data(), accept.size());
}

std::string make_client_key() {
  bwd::sec_ws_key_type key;
  bwd::make_sec_ws_key(key);
  return std::string(key.data(), key.size());
}

bool valid_client_key(std::string_view key) noexcept {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

}  // namespace parley::ws
