// WebSocket sessions: one socket, one strand, one write in flight, a bounded send queue.
//
// RFC 6455 framing is done here with net/ws_codec.h (not Beast's websocket::stream, whose
// fixed per-connection state is most of an idle connection's memory; see ws_codec.h).
//
// Reading: while nothing arrives, the session waits for readability (a small pending
// operation, no buffer). When the socket is readable, it reads what is there into the I/O
// thread's scratch buffer and handles every complete frame from there; only the bytes of an
// incomplete frame are kept, in a buffer of the session that is released when empty.
//
// Writing: frames are framed into a pending buffer; one socket write is in flight at a time
// and takes everything pending at its start, so a connection's queued frames leave in one
// write. The first write after a quiet spell is posted (not started at once), so that the
// frames of every record handled in the same round of the event loop go together. When
// k_write_behind_bytes wait (the peer does not read), frames stay in the bounded queue,
// where the send-queue limit applies (overflow: 1008).
#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/container/devector.hpp>

#include "base/clock.h"
#include "base/metrics.h"
#include "chat/connection.h"
#include "chat/frames.h"
#include "chat/service.h"
#include "net/errors.h"
#include "net/sessions.h"
#include "net/websocket.h"
#include "net/ws_codec.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

// Bytes that may wait behind a socket write before frames wait in the bounded queue.
constexpr std::size_t k_write_behind_bytes = 64 * 1024;
// Bytes read per read call, into the I/O thread's scratch buffer.
constexpr std::size_t k_read_chunk = 64 * 1024;
// Read calls per readiness event before yielding to other connections.
constexpr int k_reads_per_wake = 4;
// How long a closing connection waits for the peer's close frame and end of stream.
constexpr auto k_close_wait = std::chrono::seconds(30);

class websocket_session final : public chat::emitter,
                                public std::enable_shared_from_this<websocket_session> {
 public:
  websocket_session(std::shared_ptr<shared_state> state, tcp::socket&& socket, std::string user,
                    std::int64_t exp_ms, std::optional<std::string> default_room)
      : state_(std::move(state)),
        socket_(std::move(socket)),
        user_(std::move(user)),
        exp_ms_(exp_ms),
        default_room_(std::move(default_room)),
        tick_timer_(socket_.get_executor()),
        close_timer_(socket_.get_executor()) {}

  ~websocket_session() override {
    if (counted_) global_metrics().connections.fetch_sub(1, std::memory_order_relaxed);
  }

  // The handshake was checked by the HTTP session; `accept` is the Sec-WebSocket-Accept
  // value. The 101 response and the hello frame leave in the first write.
  void run(const std::string& accept) {
    beast::error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) return;
    pending_ =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: " +
        accept + "\r\nServer: parleyd\r\n\r\n";
    if (state_->draining) {
      close(1001, "server shutting down");
      return wait_readable();
    }
    counted_ = true;
    auto& m = global_metrics();
    m.connections.fetch_add(1, std::memory_order_relaxed);
    m.connections_total.fetch_add(1, std::memory_order_relaxed);
    state_->add(shared_from_this());
    auto session_id = ids::new_session_id();
    // The socket's executor is the strand server.cc accepted it on (make_strand(ioc)).
    const auto* strand = socket_.get_executor().target<chat::connection::strand_type>();
    if (!strand) {
      spdlog::error("websocket session: the socket's executor is not an io_context strand");
      close(1011, "internal error");
      return wait_readable();
    }
    conn_ = std::make_shared<chat::connection>(*state_->svc, *strand, weak_from_this(), user_,
                                               session_id, exp_ms_);
    emit(std::make_shared<const std::string>(
             chat::hello_frame(user_, session_id, state_->opts.node_id, now_ms())),
         false);
    conn_->start(default_room_);
    touch();
    last_ping_ = clock_type::now();
    arm_tick();
    wait_readable();
  }

  // Any thread.
  void request_close(int code, std::string reason) {
    asio::post(socket_.get_executor(), [self = shared_from_this(), code,
                                        reason = std::move(reason)] { self->close(code, reason); });
  }

  // chat::emitter (strand only)
  void emit(chat::frame_ptr frame, bool is_message) override {
    if (closing_ || finished_) return;
    if (queued_bytes_ + frame->size() > state_->opts.send_queue_bytes ||
        queue_.size() >= state_->opts.send_queue_messages) {
      return overflow();
    }
    if (is_message) global_metrics().messages_delivered.fetch_add(1, std::memory_order_relaxed);
    queued_bytes_ += frame->size();
    queue_.push_back(item{std::move(frame), item::kind::text, 0, {}});
    write_next();
  }

  void emit_error(std::error_code ec, const std::string& message,
                  const std::optional<std::string>& ref,
                  const std::optional<std::string>& rid) override {
    auto w = to_wire(ec, context::frame);
    global_metrics().errors.inc(std::string(w.code));
    emit(std::make_shared<const std::string>(chat::error_frame(w.code, message, ref, rid)), false);
    if (w.close_code) close(w.close_code, std::string(w.code));
  }

  // Starts the closing handshake: the close frame follows what is queued; the connection
  // then waits (k_close_wait at most) for the peer's close frame and end of stream.
  void close(int code, std::string_view reason) override {
    if (closing_ || finished_) return;
    closing_ = true;
    // The reason is cut to fit (at a character boundary) when the frame is built.
    queue_.push_back(
        item{nullptr, item::kind::close, static_cast<std::uint16_t>(code), std::string(reason)});
    write_next();
    close_timer_.expires_after(k_close_wait);
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->hard_close();
    });
  }

 private:
  struct item {
    enum class kind : std::uint8_t { text, ping, pong, close };
    chat::frame_ptr frame;  // kind::text
    kind k = kind::text;
    std::uint16_t code = 0;  // kind::close
    std::string payload;     // close reason, pong payload
  };

  // Any frame from the client, control frames included, is activity.
  void touch() { last_rx_ = clock_type::now(); }

  // One timer per connection for both the ping every ping_interval_s and the idle close
  // (4002) after idle_timeout_s without a frame from the client: it fires at the earlier.
  void arm_tick() {
    auto ping_at = last_ping_ + std::chrono::seconds(state_->opts.ping_interval_s);
    auto idle_at = last_rx_ + std::chrono::seconds(state_->opts.idle_timeout_s);
    tick_timer_.expires_at(std::min(ping_at, idle_at));
    tick_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->finished_ || self->closing_) return;
      self->on_tick();
    });
  }

  void on_tick() {
    auto now = clock_type::now();
    if (now - last_rx_ >= std::chrono::seconds(state_->opts.idle_timeout_s))
      return close(4002, "idle timeout");
    if (now - last_ping_ >= std::chrono::seconds(state_->opts.ping_interval_s)) {
      last_ping_ = now;
      queue_control(item{nullptr, item::kind::ping, 0, {}});
    }
    arm_tick();
  }

  // ---- reading ----

  void wait_readable() {
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      self->on_readable(ec);
    });
  }

  void on_readable(beast::error_code ec) {
    if (ec) return finish();
    static thread_local std::array<std::uint8_t, k_read_chunk> scratch;
    for (int i = 0; i < k_reads_per_wake; ++i) {
      std::size_t n = socket_.read_some(asio::buffer(scratch), ec);
      if (ec == asio::error::would_block || ec == asio::error::try_again) break;
      if (ec) return finish();  // end of stream or reset
      on_bytes(scratch.data(), n);
      if (finished_) return;
      if (n < scratch.size()) break;
    }
    wait_readable();
  }

  // Handles every complete frame in `data` (after what an earlier read left).
  void on_bytes(std::uint8_t* data, std::size_t n) {
    if (discard_input_) return;
    std::uint8_t* buf = data;
    std::size_t size = n;
    if (!partial_.empty()) {
      partial_.append(reinterpret_cast<const char*>(data), n);
      buf = reinterpret_cast<std::uint8_t*>(partial_.data());
      size = partial_.size();
    }
    std::size_t pos = 0;
    while (pos < size && !discard_input_) {
      ws::frame_header h;
      auto st = ws::parse_client_header({buf + pos, size - pos}, state_->opts.max_frame_bytes, h);
      if (st == ws::parse_status::incomplete) break;
      if (st == ws::parse_status::protocol_error) {
        protocol_failure(1002, "protocol error");
        break;
      }
      if (st == ws::parse_status::too_big) {
        // Not read: its declared length may be anything (up to 2^63).
        protocol_failure(1009, "frame too big");
        break;
      }
      if (size - pos - h.size < h.length) break;  // the payload is not all here yet
      std::uint8_t* p = buf + pos + h.size;
      auto len = static_cast<std::size_t>(h.length);
      ws::unmask(p, len, h.mask);
      pos += h.size + len;
      on_frame(h, std::string_view(reinterpret_cast<const char*>(p), len));
      if (finished_) return;
    }
    if (discard_input_) {
      std::string().swap(partial_);
      return;
    }
    // Keep the incomplete frame's bytes (none: release the buffer).
    if (!partial_.empty()) {
      partial_.erase(0, pos);
      // A few bytes of a frame must not hold on to a large buffer.
      if (partial_.capacity() > 2 * partial_.size() + 4096) partial_.shrink_to_fit();
    } else if (pos < size) {
      partial_.assign(reinterpret_cast<const char*>(buf + pos), size - pos);
    }
    if (partial_.empty()) std::string().swap(partial_);
  }

  void on_frame(const ws::frame_header& h, std::string_view payload) {
    touch();
    switch (h.op) {
      case ws::opcode::ping:
        if (!closing_) queue_control(item{nullptr, item::kind::pong, 0, std::string(payload)});
        return;
      case ws::opcode::pong:
        return;
      case ws::opcode::close:
        return on_close_frame(payload);
      case ws::opcode::text:
      case ws::opcode::binary:
        if (in_message_) return protocol_failure(1002, "protocol error");
        if (h.fin) return on_message(h.op, payload);
        in_message_ = true;
        message_op_ = h.op;
        message_.assign(payload);
        return;
      case ws::opcode::continuation:
        if (!in_message_) return protocol_failure(1002, "protocol error");
        if (message_.size() + payload.size() > state_->opts.max_frame_bytes) {
          in_message_ = false;
          std::string().swap(message_);
          return protocol_failure(1009, "message too big");
        }
        message_.append(payload);
        if (!h.fin) return;
        in_message_ = false;
        on_message(message_op_, message_);
        std::string().swap(message_);
        return;
    }
  }

  void on_message(ws::opcode op, std::string_view text) {
    if (closing_) return;
    if (op != ws::opcode::text) {
      return emit_error(chat::errc::bad_request, "binary frames are not supported", std::nullopt,
                        std::nullopt);
    }
    if (!ws::valid_utf8(text)) return close(1007, "invalid utf-8");
    conn_->on_text(text);
  }

  // The peer's close frame: answer it (echoing its code) unless this side closed first; in
  // both cases the stream ends once the close frames are out.
  void on_close_frame(std::string_view payload) {
    auto ci = ws::parse_close(payload);
    got_close_ = true;
    discard_input_ = true;
    if (!closing_) {
      // The echo goes next: what is not framed yet is dropped (the peer reads no more).
      drop_queued();
      return close(ci.error ? ci.error : (ci.code == 1005 ? 1000 : ci.code), {});
    }
    write_next();
  }

  // The input cannot be parsed any further: close frame out, then the stream ends.
  void protocol_failure(std::uint16_t code, std::string_view reason) {
    discard_input_ = true;
    got_close_ = true;  // no close frame can be read from here on
    if (!closing_) close(code, reason);
    write_next();
  }

  // ---- writing ----

  // Pings and pongs go ahead of queued messages (every item is a whole frame, so any order
  // is valid). Bounded too: a peer that sends pings and never reads is a slow reader.
  void queue_control(item it) {
    if (finished_) return;
    if (queue_.size() >= state_->opts.send_queue_messages) return overflow();
    queue_.push_front(std::move(it));
    write_next();
  }

  // Drops the frames not framed yet (counted as dropped messages).
  void drop_queued() {
    auto& m = global_metrics();
    for (auto& it : queue_)
      if (it.frame) m.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    queue_.clear();
    queued_bytes_ = 0;
  }

  void overflow() {
    // A slow reader: drop what is not framed yet, close with 1008.
    global_metrics().slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    drop_queued();
    close(1008, "slow consumer: send queue overflow");
  }

  // Frames what the queue holds into the pending buffer (up to k_write_behind_bytes) and
  // makes sure a socket write will take it.
  void write_next() {
    if (finished_) return;
    while (!queue_.empty() && pending_.size() < k_write_behind_bytes) {
      auto& it = queue_.front();
      switch (it.k) {
        case item::kind::text:
          ws::append_frame(pending_, ws::opcode::text, *it.frame);
          queued_bytes_ -= it.frame->size();
          break;
        case item::kind::ping:
          ws::append_frame(pending_, ws::opcode::ping, {});
          break;
        case item::kind::pong:
          ws::append_frame(pending_, ws::opcode::pong, it.payload);
          break;
        case item::kind::close:
          ws::append_close(pending_, it.code, it.payload);
          close_sent_ = true;
          break;
      }
      queue_.pop_front();
      if (close_sent_) {
        queue_.clear();  // nothing may follow a close frame
        queued_bytes_ = 0;
      }
    }
    if (writing_) return;
    if (!pending_.empty()) {
      // Posted: what else this round of the event loop frames leaves in the same write.
      writing_ = true;
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->start_write(); });
    } else if (close_sent_ && got_close_) {
      end_stream();
    }
  }

  // The write goes out with the other sessions' writes of this round, in one system call
  // (send_batch.h); what the socket does not take at once follows as an ordinary write.
  void start_write() {
    if (finished_) return;
    inflight_.swap(pending_);
    pending_.clear();
    in_batch_ = true;
    state_->sends->send(socket_.native_handle(), inflight_.data(), inflight_.size(),
                        socket_.get_executor(),
                        [self = shared_from_this()](ssize_t n) { self->on_batch_sent(n); });
  }

  void on_batch_sent(ssize_t n) {
    in_batch_ = false;
    if (close_after_batch_) {
      beast::error_code ignored;
      socket_.close(ignored);
    }
    if (!socket_.is_open()) return on_write(asio::error::operation_aborted);
    // Nothing taken for now (-EAGAIN, or an interrupted call): the ordinary write retries.
    if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK && n != -EINTR)
      return on_write(beast::error_code(static_cast<int>(-n), boost::system::system_category()));
    auto sent = static_cast<std::size_t>(std::max<ssize_t>(n, 0));
    if (sent >= inflight_.size()) return on_write({});
    asio::async_write(
        socket_, asio::buffer(inflight_.data() + sent, inflight_.size() - sent),
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_write(ec); });
  }

  void on_write(beast::error_code ec) {
    writing_ = false;
    // An idle connection keeps no write buffer (start_write swaps the two, so both).
    if (pending_.empty()) {
      std::string().swap(inflight_);
      std::string().swap(pending_);
    } else {
      inflight_.clear();
    }
    if (ec) return hard_close();
    write_next();
  }

  // Both close frames are out (or the input is unusable): end our direction of the stream;
  // the read side sees the peer's end of stream (or the close timer fires) and finishes.
  void end_stream() {
    if (stream_ended_) return;
    stream_ended_ = true;
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  void hard_close() {
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    close_socket();  // the pending wait completes (with an error, or end of stream): finish()
  }

  // A descriptor in a send batch stays open (not closed, so not reused by another
  // connection) until the batch is through with it: on_batch_sent() closes it then.
  void close_socket() {
    beast::error_code ignored;
    if (in_batch_) {
      socket_.shutdown(tcp::socket::shutdown_both, ignored);
      close_after_batch_ = true;
      return;
    }
    socket_.close(ignored);
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    tick_timer_.cancel();
    close_timer_.cancel();
    if (conn_) conn_->stop();
    state_->remove(this);
    queue_.clear();
    close_socket();
  }

  std::shared_ptr<shared_state> state_;
  tcp::socket socket_;
  std::string user_;
  std::int64_t exp_ms_;
  std::optional<std::string> default_room_;
  std::shared_ptr<chat::connection> conn_;
  // Not std::deque: libstdc++'s allocates ~600 bytes when constructed, on every idle session.
  boost::container::devector<item> queue_;
  std::size_t queued_bytes_ = 0;
  std::string pending_;   // framed, not yet handed to a socket write
  std::string inflight_;  // the socket write in flight
  std::string partial_;   // an incomplete frame's bytes
  std::string message_;   // a fragmented message so far
  ws::opcode message_op_ = ws::opcode::text;
  bool in_message_ = false;
  bool writing_ = false;
  bool in_batch_ = false;           // inflight_ is in a send batch (send_batch.h)
  bool close_after_batch_ = false;  // close_socket() waits for the batch
  bool closing_ = false;            // a close frame is queued or sent
  bool close_sent_ = false;
  bool got_close_ = false;  // the peer's close frame arrived (or input is unusable)
  bool discard_input_ = false;
  bool stream_ended_ = false;
  bool finished_ = false;
  bool counted_ = false;
  clock_type::time_point last_rx_ = clock_type::now();
  clock_type::time_point last_ping_ = clock_type::now();
  asio::steady_timer tick_timer_, close_timer_;
};

void start_websocket_session(std::shared_ptr<shared_state> state, tcp::socket&& socket,
                             const std::string& accept, std::string user, std::int64_t exp_ms,
                             std::optional<std::string> default_room) {
  std::make_shared<websocket_session>(std::move(state), std::move(socket), std::move(user), exp_ms,
                                      std::move(default_room))
      ->run(accept);
}

void shared_state::add(const std::shared_ptr<websocket_session>& s) {
  std::lock_guard lock(mu);
  sessions[s.get()] = s;
}

void shared_state::remove(const websocket_session* s) {
  std::lock_guard lock(mu);
  sessions.erase(s);
}

std::size_t shared_state::close_all() {
  std::vector<std::shared_ptr<websocket_session>> all;
  {
    std::lock_guard lock(mu);
    for (auto& [p, w] : sessions)
      if (auto s = w.lock()) all.push_back(std::move(s));
  }
  for (auto& s : all) s->request_close(1001, "server shutting down");
  return all.size();
}

std::size_t shared_state::open_sessions() {
  std::lock_guard lock(mu);
  return sessions.size();
}

}  // namespace parley::net
