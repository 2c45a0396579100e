#pragma once
// frame_reader: the incremental reader of a server's input, without I/O. Bytes go in as
// the socket gives them (any split); out come events: whole messages (fragments joined),
// control frames, and at most one failure, after which the reader takes nothing more.
//
// Bytes are parsed where they are (the caller's read buffer, unmasked in place); only an
// incomplete frame's bytes are kept, in a buffer that is released when empty, and a
// fragmented message's bytes so far.
//
// Not thread-safe: one reader per connection, used on its strand. Payload views in an
// event are valid until the callback returns.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ws/codec.h"

namespace parley::ws {

struct event {
  enum class kind : std::uint8_t {
    message,   // a whole text or binary message (`op`, `payload`)
    fragment,  // a data frame that does not end its message (nothing to do but note activity)
    ping,      // `payload`: to be echoed in a pong
    pong,
    close,    // `payload`: the close frame's body (parse_close)
    failure,  // the input cannot be read further: close with `close_code` and `reason`
  };
  kind type = kind::message;
  opcode op = opcode::text;
  std::string_view payload;
  std::uint16_t close_code = 0;  // failure: 1002 (protocol error) or 1009 (too big)
  std::string_view reason{};     // failure
};

class frame_reader {
 public:
  // `max_message_bytes` bounds a frame's payload and a fragmented message's total.
  explicit frame_reader(std::size_t max_message_bytes) noexcept : max_(max_message_bytes) {}

  // Reads `data` (n bytes, after what earlier calls left; unmasked in place) and calls
  // `on(const event&)` for every event in it, in order. `on` returns false to stop at once
  // (the connection is gone: nothing is kept). After a failure event, or stop(), every
  // later call does nothing.
  template <class On>
  void feed(std::uint8_t* data, std::size_t n, On&& on) {
    if (stopped_) return;
    cursor c = begin(data, n);
    event ev;
    feeding_ = true;
    bool more = true;
    while (more && next(c, ev)) more = on(ev);
    feeding_ = false;
    if (stopped_)
      release();
    else if (more)
      keep_rest(c);
  }

  // Takes no more input (e.g. the peer's close frame arrived). Safe inside `on`: the event's
  // payload stays valid until `on` returns; the buffers are released when feed() returns.
  void stop() noexcept;
  bool stopped() const noexcept { return stopped_; }

 private:
  struct cursor {
    std::uint8_t* buf;
    std::size_t size;
    std::size_t pos;
    bool in_partial;  // buf is partial_'s bytes
  };
  cursor begin(std::uint8_t* data, std::size_t n);
  bool next(cursor& c, event& ev);
  bool fail(event& ev, std::uint16_t code, std::string_view reason);
  void keep_rest(const cursor& c);
  void release() noexcept;

  std::size_t max_;
  std::string partial_;  // an incomplete frame's bytes
  std::string message_;  // a fragmented message so far
  opcode message_op_ = opcode::text;
  bool in_message_ = false;
  bool release_message_ = false;  // message_ was handed out whole: free it on the next call
  bool stopped_ = false;
  bool feeding_ = false;  // inside feed(): stop() leaves the buffers to it
};

}  // namespace parley::ws
