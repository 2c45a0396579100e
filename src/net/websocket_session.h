#pragma once
// Internal to net: one WebSocket connection after the upgrade. Owns the socket, runs on
// the socket's strand, keeps one write in flight and a bounded send queue, and gives the
// chat connection an emitter.
//
// RFC 6455 framing is done with ws/codec.h and ws/frame_reader.h (not Beast's
// websocket::stream, whose fixed per-connection state is most of an idle connection's
// memory; see ws/codec.h).
//
// Reading: while nothing arrives, the session waits for readability (a small pending
// operation, no buffer). When the socket is readable, it reads what is there into the I/O
// thread's scratch buffer and the frame reader hands out every complete frame from there;
// only the bytes of an incomplete frame are kept.
//
// Writing: frames are framed into a pending buffer; one socket write is in flight at a time
// and takes everything pending at its start, so a connection's queued frames leave in one
// write. The first write after a quiet spell is posted (not started at once), so that the
// frames of every record handled in the same round of the event loop go together, in one
// send batch (send_batch.h). When k_write_behind_bytes wait (the peer does not read),
// frames stay in the bounded queue, where the send-queue limit applies (overflow: 1008).
//
// The session's phase (`phase_`), in order; it only moves forward:
//   open          frames flow both ways.
//   closing       close() queued our close frame (after what is queued); a timer of
//                 k_close_wait starts. Client messages are ignored from here on.
//   close_sent    the close frame is framed: nothing more is queued or framed.
//   stream_ended  our close frame is written and the peer's arrived (or its input is
//                 unusable): our direction of the stream is shut; the read side waits for
//                 the peer's end of stream.
//   finished      the read side ended (end of stream, reset, or the close timer's hard
//                 close): timers cancelled, the chat connection stopped, the socket closed.
// Any phase may go straight to finished. The peer's close frame in phase open answers it
// (echoing its code) and so enters closing. The write pipeline has its own small state
// (`writing_`, `in_batch_`): see start_write().
//
// Threads: request_close() from any thread; everything else on the strand.
#include <sys/types.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/container/devector.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "chat/connection.h"
#include "ws/frame_reader.h"

namespace parley::net {

struct shared_state;

class websocket_session final : public chat::emitter,
                                public std::enable_shared_from_this<websocket_session> {
 public:
  using tcp = boost::asio::ip::tcp;

  websocket_session(std::shared_ptr<shared_state> state, tcp::socket&& socket, std::string user,
                    std::int64_t exp_ms, std::optional<std::string> default_room);
  ~websocket_session() override;

  // The handshake was checked by the HTTP session; `accept` is the Sec-WebSocket-Accept
  // value. The 101 response and the hello frame leave in the first write.
  void run(const std::string& accept);

  // Any thread: closes as to_wire(why) says (e.g. shutting_down: 1001).
  void request_close(std::error_code why);

  // chat::emitter (strand only)
  void emit(chat::frame_ptr frame, bool is_message) override;
  void emit_error(std::error_code ec, const std::string& message,
                  const std::optional<std::string>& ref,
                  const std::optional<std::string>& rid) override;
  void close(std::error_code why) override;

 private:
  using clock_type = std::chrono::steady_clock;
  enum class phase : std::uint8_t { open, closing, close_sent, stream_ended, finished };

  struct item {
    enum class kind : std::uint8_t { text, ping, pong, close };
    chat::frame_ptr frame;  // kind::text
    kind type = kind::text;
    std::uint16_t code = 0;  // kind::close
    std::string payload;     // close reason, pong payload
  };

  bool closing() const { return phase_ != phase::open; }
  bool finished() const { return phase_ == phase::finished; }
  void start_close(std::uint16_t code, std::string_view reason);
  void touch() { last_rx_ = clock_type::now(); }
  void arm_tick();
  void on_tick();
  // reading
  void wait_readable();
  void on_readable(boost::system::error_code ec);
  bool on_event(const ws::event& ev);
  void on_message(ws::opcode op, std::string_view text);
  void on_close_frame(std::string_view payload);
  void protocol_failure(std::uint16_t code, std::string_view reason);
  // writing
  void queue_control(item it);
  void drop_queued();
  void overflow();
  void write_next();
  void start_write();
  void on_batch_sent(ssize_t n);
  void on_write(boost::system::error_code ec);
  void end_stream();
  void hard_close();
  void close_socket();
  void finish();

  std::shared_ptr<shared_state> state_;
  tcp::socket socket_;
  std::string user_;
  std::int64_t exp_ms_;
  std::optional<std::string> default_room_;
  std::shared_ptr<chat::connection> conn_;
  ws::frame_reader reader_;
  // Not std::deque: libstdc++'s allocates ~600 bytes when constructed, on every idle session.
  boost::container::devector<item> queue_;
  std::size_t queued_bytes_ = 0;
  std::string pending_;   // framed, not yet handed to a socket write
  std::string inflight_;  // the socket write in flight
  phase phase_ = phase::open;
  bool writing_ = false;            // a write is posted or in flight
  bool in_batch_ = false;           // inflight_ is in a send batch (send_batch.h)
  bool close_after_batch_ = false;  // close_socket() waits for the batch
  bool counted_ = false;            // in the connections gauge
  clock_type::time_point last_rx_ = clock_type::now();
  clock_type::time_point last_ping_ = clock_type::now();
  boost::asio::steady_timer tick_timer_, close_timer_;
};

// Completes a checked upgrade on `socket` for an authenticated `user` (answers 101 with
// Sec-WebSocket-Accept `accept`) and runs the session.
void start_websocket_session(std::shared_ptr<shared_state> state,
                             boost::asio::ip::tcp::socket&& socket, const std::string& accept,
                             std::string user, std::int64_t exp_ms,
                             std::optional<std::string> default_room);

}  // namespace parley::net
