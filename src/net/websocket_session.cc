#include "net/websocket_session.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "base/clock.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "chat/frames.h"
#include "chat/service.h"
#include "net/errors.h"
#include "net/shared_state.h"
#include "ws/codec.h"

namespace parley::net {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

namespace {
// Bytes that may wait behind a socket write before frames wait in the bounded queue.
constexpr std::size_t k_write_behind_bytes = 64 * 1024;
// Bytes read per read call, into the I/O thread's scratch buffer.
constexpr std::size_t k_read_chunk = 64 * 1024;
// Read calls per readiness event before yielding to other connections.
constexpr int k_reads_per_wake = 4;
// How long a closing connection waits for the peer's close frame and end of stream.
constexpr auto k_close_wait = std::chrono::seconds(30);
}  // namespace

websocket_session::websocket_session(std::shared_ptr<shared_state> state, tcp::socket&& socket,
                                     std::string user, std::int64_t exp_ms,
                                     std::optional<std::string> default_room)
    : state_(std::move(state)),
      socket_(std::move(socket)),
      user_(std::move(user)),
      exp_ms_(exp_ms),
      default_room_(std::move(default_room)),
      reader_(state_->opts.max_frame_bytes),
      tick_timer_(socket_.get_executor()),
      close_timer_(socket_.get_executor()) {}

websocket_session::~websocket_session() {
  if (counted_) global_metrics().connections.fetch_sub(1, std::memory_order_relaxed);
}

void websocket_session::run(const std::string& accept) {
  error_code ec;
  socket_.non_blocking(true, ec);
  if (ec) return;
  pending_ =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept + "\r\nServer: parleyd\r\n\r\n";
  if (state_->draining) {
    close(errc::shutting_down);
    return wait_readable();
  }
  counted_ = true;
  auto& m = global_metrics();
  m.connections.fetch_add(1, std::memory_order_relaxed);
  m.connections_total.fetch_add(1, std::memory_order_relaxed);
  state_->add(shared_from_this());
  auto session_id = ids::new_session_id();
  // The socket's executor is the strand the listener accepted it on (make_strand(ioc)).
  const auto* strand = socket_.get_executor().target<chat::connection::strand_type>();
  if (!strand) {
    spdlog::error("websocket session: the socket's executor is not an io_context strand");
    close(errc::internal);
    return wait_readable();
  }
  conn_ = std::make_shared<chat::connection>(*state_->svc, *strand, weak_from_this(), user_,
                                             session_id, exp_ms_);
  emit(std::make_shared<const std::string>(
           chat::hello_frame(user_, session_id, state_->svc->options().node_id, now_ms())),
       false);
  conn_->start(default_room_);
  touch();
  last_ping_ = clock_type::now();
  arm_tick();
  wait_readable();
}

void websocket_session::request_close(std::error_code why) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), why] { self->close(why); });
}

void websocket_session::emit(chat::frame_ptr frame, bool is_message) {
  if (closing()) return;
  if (queued_bytes_ + frame->size() > state_->opts.send_queue_bytes ||
      queue_.size() >= state_->opts.send_queue_messages) {
    return overflow();
  }
  if (is_message) global_metrics().messages_delivered.fetch_add(1, std::memory_order_relaxed);
  queued_bytes_ += frame->size();
  queue_.push_back(item{std::move(frame), item::kind::text, 0, {}});
  write_next();
}

void websocket_session::emit_error(std::error_code ec, const std::string& message,
                                   const std::optional<std::string>& ref,
                                   const std::optional<std::string>& rid) {
  auto w = to_wire(ec, context::frame);
  global_metrics().errors.inc(std::string(w.code));
  emit(std::make_shared<const std::string>(chat::error_frame(w.code, message, ref, rid)), false);
  if (w.close_code) start_close(w.close_code, w.close_reason);
}

void websocket_session::close(std::error_code why) {
  auto w = to_wire(why, context::frame);
  start_close(w.close_code ? w.close_code : ws::close_code::internal, w.close_reason);
}

// Starts the closing handshake: the close frame follows what is queued; the connection
// then waits (k_close_wait at most) for the peer's close frame and end of stream.
void websocket_session::start_close(std::uint16_t code, std::string_view reason) {
  if (closing()) return;
  phase_ = phase::closing;
  // The reason is cut to fit (at a character boundary) when the frame is built.
  queue_.push_back(item{nullptr, item::kind::close, code, std::string(reason)});
  write_next();
  close_timer_.expires_after(k_close_wait);
  close_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->hard_close();
  });
}

// One timer per connection for both the ping every ping_interval_s and the idle close
// (4002) after idle_timeout_s without a frame from the client: it fires at the earlier.
void websocket_session::arm_tick() {
  auto ping_at = last_ping_ + std::chrono::seconds(state_->opts.ping_interval_s);
  auto idle_at = last_rx_ + std::chrono::seconds(state_->opts.idle_timeout_s);
  tick_timer_.expires_at(std::min(ping_at, idle_at));
  tick_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (ec || self->closing()) return;
    self->on_tick();
  });
}

void websocket_session::on_tick() {
  auto now = clock_type::now();
  if (now - last_rx_ >= std::chrono::seconds(state_->opts.idle_timeout_s))
    return close(errc::idle_timeout);
  if (now - last_ping_ >= std::chrono::seconds(state_->opts.ping_interval_s)) {
    last_ping_ = now;
    queue_control(item{nullptr, item::kind::ping, 0, {}});
  }
  arm_tick();
}

// ---- reading ----

void websocket_session::wait_readable() {
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](error_code ec) { self->on_readable(ec); });
}

void websocket_session::on_readable(error_code ec) {
  if (ec) return finish();
  static thread_local std::array<std::uint8_t, k_read_chunk> scratch;
  for (int i = 0; i < k_reads_per_wake; ++i) {
    std::size_t n = socket_.read_some(asio::buffer(scratch), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) break;
    if (ec) return finish();  // end of stream or reset
    reader_.feed(scratch.data(), n, [this](const ws::event& ev) { return on_event(ev); });
    if (finished()) return;
    if (n < scratch.size()) break;
  }
  wait_readable();
}

// One event of the frame reader; false once the session is finished.
bool websocket_session::on_event(const ws::event& ev) {
  using kind = ws::event::kind;
  if (ev.type == kind::failure) {
    protocol_failure(ev.close_code, ev.reason);
  } else {
    touch();  // any frame from the client, control frames included, is activity
    switch (ev.type) {
      case kind::ping:
        if (!closing()) queue_control(item{nullptr, item::kind::pong, 0, std::string(ev.payload)});
        break;
      case kind::close:
        on_close_frame(ev.payload);
        break;
      case kind::message:
        on_message(ev.op, ev.payload);
        break;
      case kind::pong:
      case kind::fragment:
      case kind::failure:
        break;
    }
  }
  return !finished();
}

void websocket_session::on_message(ws::opcode op, std::string_view text) {
  if (closing()) return;
  if (op != ws::opcode::text) {
    return emit_error(chat::errc::bad_request, "binary frames are not supported", std::nullopt,
                      std::nullopt);
  }
  if (!ws::valid_utf8(text)) return close(errc::invalid_utf8);
  conn_->on_text(text);
}

// The peer's close frame: answer it (echoing its code) unless this side closed first; in
// both cases the stream ends once the close frames are out.
void websocket_session::on_close_frame(std::string_view payload) {
  auto ci = ws::parse_close(payload);
  reader_.stop();  // nothing is read after a close frame
  if (!closing()) {
    // The echo goes next: what is not framed yet is dropped (the peer reads no more).
    drop_queued();
    auto code = ci.code == ws::close_code::no_status ? ws::close_code::normal : ci.code;
    return start_close(ci.error ? ci.error : code, {});
  }
  write_next();
}

// The input cannot be parsed any further (the reader has stopped): close frame out, then
// the stream ends.
void websocket_session::protocol_failure(std::uint16_t code, std::string_view reason) {
  if (!closing()) start_close(code, reason);
  write_next();
}

// ---- writing ----

// Pings and pongs go ahead of queued messages (every item is a whole frame, so any order
// is valid). Bounded too: a peer that sends pings and never reads is a slow reader.
void websocket_session::queue_control(item it) {
  if (finished()) return;
  if (queue_.size() >= state_->opts.send_queue_messages) return overflow();
  queue_.push_front(std::move(it));
  write_next();
}

// Drops the frames not framed yet (counted as dropped messages).
void websocket_session::drop_queued() {
  auto& m = global_metrics();
  for (auto& it : queue_)
    if (it.frame) m.messages_dropped.fetch_add(1, std::memory_order_relaxed);
  queue_.clear();
  queued_bytes_ = 0;
}

// A slow reader: drop what is not framed yet, close with 1008.
void websocket_session::overflow() {
  global_metrics().slow_consumer_closes.fetch_add(1, std::memory_order_relaxed);
  drop_queued();
  close(errc::slow_consumer);
}

// Frames what the queue holds into the pending buffer (up to k_write_behind_bytes) and
// makes sure a socket write will take it.
void websocket_session::write_next() {
  if (finished()) return;
  while (!queue_.empty() && pending_.size() < k_write_behind_bytes) {
    auto& it = queue_.front();
    switch (it.type) {
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
        phase_ = phase::close_sent;
        break;
    }
    queue_.pop_front();
    if (phase_ == phase::close_sent) {
      queue_.clear();  // nothing may follow a close frame
      queued_bytes_ = 0;
    }
  }
  if (writing_) return;
  if (!pending_.empty()) {
    // Posted: what else this round of the event loop frames leaves in the same write.
    writing_ = true;
    asio::post(socket_.get_executor(), [self = shared_from_this()] { self->start_write(); });
  } else if (phase_ == phase::close_sent && reader_.stopped()) {
    end_stream();
  }
}

// The write goes out with the other sessions' writes of this round, in one system call
// (send_batch.h); what the socket does not take at once follows as an ordinary write.
void websocket_session::start_write() {
  if (finished()) return;
  inflight_.swap(pending_);
  pending_.clear();
  in_batch_ = true;
  state_->sends->send(socket_.native_handle(), inflight_.data(), inflight_.size(),
                      socket_.get_executor(),
                      [self = shared_from_this()](ssize_t n) { self->on_batch_sent(n); });
}

void websocket_session::on_batch_sent(ssize_t n) {
  in_batch_ = false;
  if (close_after_batch_) {
    error_code ignored;
    socket_.close(ignored);
  }
  if (!socket_.is_open()) return on_write(asio::error::operation_aborted);
  // Nothing taken for now (-EAGAIN, or an interrupted call): the ordinary write retries.
  if (n < 0 && n != -EAGAIN && n != -EWOULDBLOCK && n != -EINTR)
    return on_write(error_code(static_cast<int>(-n), boost::system::system_category()));
  auto sent = static_cast<std::size_t>(std::max<ssize_t>(n, 0));
  if (sent >= inflight_.size()) return on_write({});
  asio::async_write(
      socket_, asio::buffer(inflight_.data() + sent, inflight_.size() - sent),
      [self = shared_from_this()](error_code ec, std::size_t) { self->on_write(ec); });
}

void websocket_session::on_write(error_code ec) {
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
void websocket_session::end_stream() {
  if (phase_ != phase::close_sent) return;
  phase_ = phase::stream_ended;
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void websocket_session::hard_close() {
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  close_socket();  // the pending wait completes (with an error, or end of stream): finish()
}

// A descriptor in a send batch stays open (not closed, so not reused by another
// connection) until the batch is through with it: on_batch_sent() closes it then.
void websocket_session::close_socket() {
  error_code ignored;
  if (in_batch_) {
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    close_after_batch_ = true;
    return;
  }
  socket_.close(ignored);
}

void websocket_session::finish() {
  if (finished()) return;
  phase_ = phase::finished;
  tick_timer_.cancel();
  close_timer_.cancel();
  if (conn_) conn_->stop();
  state_->remove(this);
  queue_.clear();
  close_socket();
}

void start_websocket_session(std::shared_ptr<shared_state> state,
                             websocket_session::tcp::socket&& socket, const std::string& accept,
                             std::string user, std::int64_t exp_ms,
                             std::optional<std::string> default_room) {
  std::make_shared<websocket_session>(std::move(state), std::move(socket), std::move(user), exp_ms,
                                      std::move(default_room))
      ->run(accept);
}

}  // namespace parley::net
