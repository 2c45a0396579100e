// WebSocket sessions: one socket, one strand, one write in flight, a bounded send queue.
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/container/devector.hpp>

#include "base/clock.h"
#include "base/metrics.h"
#include "chat/connection.h"
#include "chat/frames.h"
#include "chat/service.h"
#include "net/errors.h"
#include "net/sessions.h"
#include "net/websocket.h"
#include "net/write_behind_stream.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using clock_type = std::chrono::steady_clock;

// Bytes that may wait behind a socket write before a WebSocket write waits too (see
// write_behind_stream.h): enough to coalesce a burst of frames into one write.
constexpr std::size_t k_write_behind_bytes = 64 * 1024;
// Bytes read per read of a message (see do_read): a chat frame is usually smaller.
constexpr std::size_t k_read_piece = 512;

class websocket_session final : public chat::emitter,
                                public std::enable_shared_from_this<websocket_session> {
 public:
  websocket_session(std::shared_ptr<shared_state> state, beast::tcp_stream&& stream,
                    std::string user, std::int64_t exp_ms, std::optional<std::string> default_room)
      : state_(std::move(state)),
        ws_(k_write_behind_bytes, stream.release_socket()),
        user_(std::move(user)),
        exp_ms_(exp_ms),
        default_room_(std::move(default_room)),
        tick_timer_(ws_.get_executor()),
        close_timer_(ws_.get_executor()) {}

  ~websocket_session() override {
    if (counted_) global_metrics().connections.fetch_sub(1, std::memory_order_relaxed);
  }

  void run(http::request<http::string_body> req) {
    ws_.next_layer().set_owner(weak_from_this());
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();  // our own idle rule: 4002
    t.keep_alive_pings = false;
    ws_.set_option(t);
    ws_.read_message_max(state_->opts.max_frame_bytes);
    ws_.auto_fragment(false);
    ws_.text(true);  // every message parleyd sends is a text frame
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "parleyd"); }));
    ws_.control_callback([this](websocket::frame_type, beast::string_view) { touch(); });
    ws_.async_accept(req,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  // Any thread.
  void request_close(int code, std::string reason) {
    asio::post(ws_.get_executor(), [self = shared_from_this(), code, reason = std::move(reason)] {
      self->close(code, reason);
    });
  }

  // chat::emitter (strand only)
  void emit(chat::frame_ptr frame, bool is_message) override {
    if (closing_ || finished_) return;
    auto& m = global_metrics();
    if (queued_bytes_ + frame->size() > state_->opts.send_queue_bytes ||
        queue_.size() >= state_->opts.send_queue_messages) {
      return overflow();
    }
    if (is_message) m.messages_delivered.fetch_add(1, std::memory_order_relaxed);
    queued_bytes_ += frame->size();
    queue_.push_back(item{std::move(frame), 0, {}, false});
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

  void close(int code, std::string_view reason) override {
    if (closing_ || finished_) return;
    closing_ = true;
    queue_.push_back(item{nullptr, code, std::string(reason.substr(0, 120)), false});
    write_next();
    // A peer that never reads (or never answers the close) is cut off. Generous, so that a
    // reader that was only slow still finds the close frame (and its code) when it resumes;
    // meanwhile the session holds at most the one write in flight.
    close_timer_.expires_after(std::chrono::seconds(30));
    close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->hard_close();
    });
  }

 private:
  struct item {
    chat::frame_ptr frame;
    int close_code = 0;
    std::string reason;
    bool ping = false;
  };

  void on_accept(beast::error_code ec) {
    if (ec) return finish();
    if (state_->draining) {
      close(1001, "server shutting down");
      return do_read();
    }
    counted_ = true;
    auto& m = global_metrics();
    m.connections.fetch_add(1, std::memory_order_relaxed);
    m.connections_total.fetch_add(1, std::memory_order_relaxed);
    state_->add(shared_from_this());
    auto session_id = ids_new_session();
    conn_ = std::make_shared<chat::connection>(*state_->svc, ws_.get_executor(), weak_from_this(),
                                               user_, session_id, exp_ms_);
    emit(std::make_shared<const std::string>(
             chat::hello_frame(user_, session_id, state_->opts.node_id, now_ms())),
         false);
    conn_->start(default_room_);
    touch();
    last_ping_ = clock_type::now();
    arm_tick();
    do_read();
  }

  static std::string ids_new_session();

  // Any frame from the client, control frames included, is activity.
  void touch() { last_rx_ = clock_type::now(); }

  // One timer per connection (an idle one costs memory: the timer and its pending wait)
  // for both the WebSocket ping every ping_interval_s and the idle close (4002) after
  // idle_timeout_s without a frame from the client: it fires at the earlier of the two.
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
      queue_.push_back(item{nullptr, 0, {}, true});
      write_next();
    }
    arm_tick();
  }

  // Reads a message a piece at a time (k_read_piece bytes at most per read), so that an idle
  // connection's read buffer holds a small piece, not Beast's default read size.
  void do_read() {
    ws_.async_read_some(buffer_, k_read_piece,
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                          if (!ec && !self->ws_.is_message_done()) return self->do_read();
                          self->on_read(ec);
                        });
  }

  void on_read(beast::error_code ec) {
    if (ec) return finish();
    touch();
    if (!closing_) {
      if (ws_.got_text()) {
        auto data = buffer_.cdata();
        conn_->on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
      } else {
        emit_error(chat::errc::bad_request, "binary frames are not supported", std::nullopt,
                   std::nullopt);
      }
    }
    buffer_.consume(buffer_.size());
    do_read();
  }

  void overflow() {
    // A slow reader: drop what is queued (not the write in flight), close with 1008.
    auto& m = global_metrics();
    m.slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
    std::size_t keep = writing_ ? 1 : 0;
    m.messages_dropped.fetch_add(queue_.size() - keep, std::memory_order_relaxed);
    while (queue_.size() > keep) {
      if (queue_.back().frame) queued_bytes_ -= queue_.back().frame->size();
      queue_.pop_back();
    }
    close(1008, "slow consumer: send queue overflow");
  }

  // Text frames are framed at once, by a synchronous Beast write into the write-behind
  // buffer (which never blocks): everything emitted before that buffer's socket write
  // starts, or while it is in flight, leaves in one write. Only when the buffer holds
  // k_write_behind_bytes (the peer is not reading) do frames wait here, where the
  // send-queue bound applies (overflow -> 1008). Pings and the close go through Beast's
  // async operations, one at a time, in queue order.
  void write_next() {
    if (writing_ || finished_) return;
    auto& wb = ws_.next_layer();
    while (!queue_.empty() && queue_.front().frame) {
      if (wb.full()) {
        writing_ = true;
        wb.async_flush(
            [self = shared_from_this()](beast::error_code ec) { self->on_write(ec, false); });
        return;
      }
      const auto& f = *queue_.front().frame;
      beast::error_code ec;
      ws_.write(asio::buffer(f), ec);
      if (ec) return hard_close();
      queued_bytes_ -= f.size();
      queue_.pop_front();
    }
    if (queue_.empty()) return;
    writing_ = true;
    auto self = shared_from_this();
    auto& it = queue_.front();
    if (it.close_code) {
      websocket::close_reason cr(static_cast<websocket::close_code>(it.close_code), it.reason);
      ws_.async_close(cr, [self](beast::error_code ec) {
        self->writing_ = false;
        // Keep reading until the peer's close arrives (or the close timer fires).
        if (ec) self->hard_close();
      });
      return;
    }
    ws_.async_ping({}, [self](beast::error_code ec) { self->on_write(ec, true); });
  }

  // `pop_front`: the item written was the queue's front (a ping); frames were popped when
  // they went into the write-behind buffer.
  void on_write(beast::error_code ec, bool pop_front) {
    writing_ = false;
    if (ec) return hard_close();
    if (pop_front) queue_.pop_front();
    write_next();
  }

  void hard_close() {
    beast::error_code ignored;
    auto& sock = beast::get_lowest_layer(ws_);
    sock.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    sock.close(ignored);
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    tick_timer_.cancel();
    close_timer_.cancel();
    if (conn_) conn_->stop();
    state_->remove(this);
    if (!queue_.empty() && !writing_) queue_.clear();
  }

  std::shared_ptr<shared_state> state_;
  // A plain socket under the WebSocket (no beast::tcp_stream: its timers would be idle
  // weight on every connection; the session keeps its own), and no permessage-deflate
  // state (never negotiated).
  websocket::stream<write_behind_stream<asio::ip::tcp::socket>, false> ws_;
  beast::flat_buffer buffer_;
  std::string user_;
  std::int64_t exp_ms_;
  std::optional<std::string> default_room_;
  std::shared_ptr<chat::connection> conn_;
  // Not std::deque: libstdc++'s allocates ~600 bytes when constructed, on every idle session.
  boost::container::devector<item> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool counted_ = false;
  clock_type::time_point last_rx_ = clock_type::now();
  clock_type::time_point last_ping_ = clock_type::now();
  asio::steady_timer tick_timer_, close_timer_;
};

std::string websocket_session::ids_new_session() { return ids::new_session_id(); }

void start_websocket_session(std::shared_ptr<shared_state> state, beast::tcp_stream&& stream,
                             http::request<http::string_body> req, std::string user,
                             std::int64_t exp_ms, std::optional<std::string> default_room) {
  std::make_shared<websocket_session>(std::move(state), std::move(stream), std::move(user), exp_ms,
                                      std::move(default_room))
      ->run(std::move(req));
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
