#include "ws/frame_reader.h"

namespace parley::ws {

frame_reader::cursor frame_reader::begin(std::uint8_t* data, std::size_t n) {
  if (partial_.empty()) return {data, n, 0, false};
  partial_.append(reinterpret_cast<const char*>(data), n);
  return {reinterpret_cast<std::uint8_t*>(partial_.data()), partial_.size(), 0, true};
}

void frame_reader::stop() noexcept {
  stopped_ = true;
  in_message_ = false;
  if (!feeding_) release();
}

void frame_reader::release() noexcept {
  std::string().swap(partial_);
  std::string().swap(message_);
}

// The failure event carries no payload: the buffers can go at once.
bool frame_reader::fail(event& ev, std::uint16_t code, std::string_view reason) {
  stop();
  release();
  ev = event{event::kind::failure, opcode::text, {}, code, reason};
  return true;
}

bool frame_reader::next(cursor& c, event& ev) {
  if (release_message_) {
    release_message_ = false;
    std::string().swap(message_);
  }
  if (stopped_ || c.pos >= c.size) return false;
  frame_header h;
  auto st = parse_client_header({c.buf + c.pos, c.size - c.pos}, max_, h);
  if (st == parse_status::incomplete) return false;
  if (st == parse_status::protocol_error)
    return fail(ev, close_code::protocol_error, "protocol error");
  // Not read: its declared length may be anything (up to 2^63).
  if (st == parse_status::too_big) return fail(ev, close_code::too_big, "frame too big");
  if (c.size - c.pos - h.size < h.length) return false;  // the payload is not all here yet
  std::uint8_t* p = c.buf + c.pos + h.size;
  auto len = static_cast<std::size_t>(h.length);
  unmask(p, len, h.mask);
  c.pos += h.size + len;
  std::string_view payload(reinterpret_cast<const char*>(p), len);
  switch (h.op) {
    case opcode::ping:
      ev = event{event::kind::ping, h.op, payload};
      return true;
    case opcode::pong:
      ev = event{event::kind::pong, h.op, payload};
      return true;
    case opcode::close:
      ev = event{event::kind::close, h.op, payload};
      return true;
    case opcode::text:
    case opcode::binary:
      if (in_message_) return fail(ev, close_code::protocol_error, "protocol error");
      if (h.fin) {
        ev = event{event::kind::message, h.op, payload};
        return true;
      }
      in_message_ = true;
      message_op_ = h.op;
      message_.assign(payload);
      ev = event{event::kind::fragment, h.op, {}};
      return true;
    case opcode::continuation:
      if (!in_message_) return fail(ev, close_code::protocol_error, "protocol error");
      if (message_.size() + payload.size() > max_)
        return fail(ev, close_code::too_big, "message too big");
      message_.append(payload);
      if (!h.fin) {
        ev = event{event::kind::fragment, h.op, {}};
        return true;
      }
      in_message_ = false;
      release_message_ = true;
      ev = event{event::kind::message, message_op_, message_};
      return true;
  }
  return fail(ev, close_code::protocol_error,
              "protocol error");  // parse_client_header refuses other opcodes
}

void frame_reader::keep_rest(const cursor& c) {
  if (c.in_partial) {
    partial_.erase(0, c.pos);
    // A few bytes of a frame must not hold on to a large buffer.
    if (partial_.capacity() > 2 * partial_.size() + 4096) partial_.shrink_to_fit();
  } else if (c.pos < c.size) {
    partial_.assign(reinterpret_cast<const char*>(c.buf + c.pos), c.size - c.pos);
  }
  if (partial_.empty()) std::string().swap(partial_);
}

}  // namespace parley::ws
