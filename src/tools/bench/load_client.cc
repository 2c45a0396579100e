#include "tools/bench/load_client.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>

#include "tools/bench/checker.h"
#include "tools/common.h"
#include "ws/codec.h"

namespace parley::tools::bench {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace ws = parley::ws;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;
using strand_type = asio::strand<asio::io_context::executor_type>;

constexpr auto k_setup_timeout = std::chrono::seconds(10);
// Frames queued locally beyond this are dropped (and counted): the server stopped reading.
constexpr std::size_t k_max_queue = 100'000;
// The largest message the generator accepts (a long history page is the largest frame).
constexpr std::size_t k_read_message_max = 16 * 1024 * 1024;
// Bytes asked of the kernel per read: a connection starts small (the idle scenario holds
// tens of thousands, each with its buffer reserved while it waits) and doubles the size
// after every read that filled it, up to the max.
constexpr std::size_t k_read_chunk_min = 2 * 1024;
constexpr std::size_t k_read_chunk_max = 64 * 1024;

// One TCP connection with what belongs to it. A connection replaces its link when it
// reconnects (connect scenario); handlers of an old link see it is stale and stop.
//
// The generator speaks WebSocket itself (ws/codec.h) rather than through Beast's
// websocket::stream: in fanout one core receives up to 100,000 frames/s, and the stream's
// composed read (per frame: a speculative recvmsg that finds nothing, then a wait, under
// several layers of handlers and a dynamic allocation per JSON node) made half of the
// generator's time user space. Here a connection reads what is there into its buffer (one
// recvmsg; Asio waits for epoll's edge without another syscall after a short read), parses
// every complete frame in it, and parses each frame's JSON in a stack arena: 12 -> 9.7 us of
// the generator's core per delivery in fanout at 50,000 deliveries/s; the rest is the
// kernel's loopback TCP (docs/benchmarks.md). The HTTP upgrade goes through Beast's parser.
struct link {
  explicit link(const strand_type& s) : sock(s) {}
  tcp::socket sock;
  beast::flat_buffer rbuf;  // bytes read and not yet parsed (the handshake's leftover too)
  std::string fragments;    // the payload so far of a fragmented message
  bool in_message = false;  // a fragmented message is open
  std::string out;          // frames queued behind the write in flight
  std::size_t out_frames = 0;
  std::size_t writing_frames = 0;
  std::string writing;  // the bytes of the write in flight
  bool write_busy = false;
  bool closed = false;  // the socket is closed, or will be when the write finishes
  bool close_after_write = false;
  std::string request;  // the upgrade request
  std::string key;      // its Sec-WebSocket-Key
  std::unique_ptr<http::response_parser<http::string_body>> response;
};

// The scheduled time of a bench cid "<t_us>.<k>"; nullopt for any other string.
std::optional<std::int64_t> cid_time(std::string_view cid) {
  auto dot = cid.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::int64_t t = 0;
  auto r = std::from_chars(cid.data(), cid.data() + dot, t);
  if (r.ec != std::errc() || r.ptr != cid.data() + dot) return std::nullopt;
  return t;
}

class load_client_impl final : public load_client {
 public:
  load_client_impl(asio::io_context& ioc, conn_plan plan, stats& st,
                  std::function<void(bool)> on_setup)
      : strand_(asio::make_strand(ioc)),
        timer_(strand_),
        deadline_(strand_),
        plan_(std::move(plan)),
        st_(st),
        on_setup_(std::move(on_setup)),
        checker_(plan_.room) {
    target_ = "/ws?token=" + url_encode(plan_.token);
    if (!plan_.room.empty()) target_ += "&room=" + url_encode(plan_.room);
    host_ = plan_.target.host + ":" + std::to_string(plan_.target.port);
    // Masking keys: RFC 6455 wants them unpredictable to keep a client's payload from
    // steering an intermediary's cache; the generator only talks to 127.0.0.0/8, so a
    // per-connection xorshift stream is enough (and costs nothing per frame).
    rng_ = 0x9E3779B97F4A7C15ull ^
           (static_cast<std::uint64_t>(plan_.index) * 0xBF58476D1CE4E5B9ull) ^
           static_cast<std::uint64_t>(now_us());
    if (rng_ == 0) rng_ = 1;
  }

  void start() override {
    asio::post(strand_, [self = shared()] { self->do_connect(); });
  }

  void start_sending(const send_plan& p) override {
    asio::post(strand_, [self = shared(), p] {
      self->send_ = p;
      self->sending_ = true;
      if (p.closed_loop) {
        self->fill_window();
      } else {
        self->schedule();
      }
    });
  }

  void shutdown() override {
    asio::post(strand_, [self = shared()] {
      self->stopping_ = true;
      self->timer_.cancel();
      self->deadline_.cancel();
      self->st_.gaps.fetch_add(self->checker_.finish(), std::memory_order_relaxed);
      if (self->link_) self->close_link(*self->link_);
    });
  }

 private:
  enum class state { connecting, wait_hello, wait_joined, ready, closing };

  std::shared_ptr<load_client_impl> shared() {
    return std::static_pointer_cast<load_client_impl>(shared_from_this());
  }

  static void close_link(link& l) {
    l.closed = true;
    error_code ignored;
    l.sock.close(ignored);
  }

  std::uint32_t next_mask() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return static_cast<std::uint32_t>(rng_ >> 16);
  }

  void do_connect() {
    if (stopping_) return;
    link_ = std::make_shared<link>(strand_);
    state_ = state::connecting;
    attempt_us_ = now_us();
    auto& sock = link_->sock;
    error_code ec;
    sock.open(tcp::v4(), ec);
    if (ec) return setup_failed("socket: " + ec.message());
    if (!plan_.source_addr.empty()) {
      // Defer the port choice to connect(), so ports are unique per 4-tuple, not per address.
      int one = 1;
      ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sock.bind(tcp::endpoint(asio::ip::make_address_v4(plan_.source_addr), 0), ec);
      if (ec) return setup_failed("bind: " + ec.message());
    }
    // Set-up (connect, upgrade, hello, joined) must finish within k_setup_timeout.
    deadline_.expires_after(k_setup_timeout);
    deadline_.async_wait([self = shared(), l = link_](error_code ec) {
      if (ec || l != self->link_ || l->closed || self->stopping_ || self->state_ == state::ready)
        return;
      if (self->state_ != state::closing) return self->setup_failed("set-up timed out");
      // The connect scenario's close went unanswered: drop the socket, go on.
      close_link(*l);
      self->do_connect();
    });
    tcp::endpoint ep(asio::ip::make_address_v4(plan_.target.host), plan_.target.port);
    sock.async_connect(ep, [self = shared(), l = link_](error_code ec) {
      if (l != self->link_) return;
      self->on_connect(ec);
    });
  }

  void on_connect(error_code ec) {
    if (stopping_ || link_->closed) return;
    if (ec) return setup_failed("connect: " + ec.message());
    link_->sock.set_option(tcp::no_delay(true), ec);
    link_->key = ws::make_client_key();
    link_->request =
        "GET " + target_ + " HTTP/1.1\r\nHost: " + host_ +
        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + link_->key +
        "\r\nSec-WebSocket-Version: 13\r\n\r\n";
    asio::async_write(link_->sock, asio::buffer(link_->request),
                     [self = shared(), l = link_](error_code ec, std::size_t) {
                       if (l != self->link_) return;
                       self->on_request_written(ec);
                     });
  }

  void on_request_written(error_code ec) {
    if (stopping_ || link_->closed) return;
    if (ec) return setup_failed("handshake: " + ec.message());
    link_->response = std::make_unique<http::response_parser<http::string_body>>();
    link_->response->body_limit(64 * 1024);
    http::async_read(link_->sock, link_->rbuf, *link_->response,
                     [self = shared(), l = link_](error_code ec, std::size_t) {
                       if (l != self->link_) return;
                       self->on_handshake(ec);
                     });
  }

  void on_handshake(error_code ec) {
    if (stopping_ || link_->closed) return;
    if (ec) return setup_failed("handshake: " + ec.message());
    const auto& res = link_->response->get();
    if (res.result() != http::status::switching_protocols) {
      return setup_failed("http_" + std::to_string(res.result_int()));
    }
    if (!beast::iequals(res[http::field::upgrade], "websocket") ||
        res[http::field::sec_websocket_accept] != ws::accept_key(link_->key)) {
      return setup_failed("handshake: not a WebSocket upgrade");
    }
    link_->response.reset();
    link_->request = std::string();
    state_ = state::wait_hello;
    // The hello may have come in the same segment as the 101: parse what is buffered.
    auto l = link_;
    if (parse_frames(l)) wait_readable();
  }

  // Reads into the link's buffer. Asio tries the read at once only when the previous one
  // filled its buffer; after a short read it waits for epoll's edge without re-arming the
  // descriptor (an async_wait costs an epoll_ctl per wait: 5% of the generator's core in
  // fanout).
  void wait_readable() {
    const std::size_t chunk = read_chunk_;
    link_->sock.async_read_some(link_->rbuf.prepare(chunk),
                                [self = shared(), l = link_](error_code ec, std::size_t n) {
                                  if (l != self->link_) return;
                                  self->on_read(ec, n);
                                });
  }

  void on_read(error_code ec, std::size_t n) {
    if (stopping_ || link_->closed) return;
    if (ec) return on_lost(ec);
    auto l = link_;
    l->rbuf.commit(n);
    // A full read: more is likely waiting (a busy room, a history page); ask for more.
    if (n == read_chunk_ && read_chunk_ < k_read_chunk_max) read_chunk_ *= 2;
    if (parse_frames(l)) wait_readable();
  }

  // The connection ended without a close handshake (or with one while closing).
  void on_lost(error_code ec) {
    auto l = link_;
    close_link(*l);
    if (state_ == state::closing) {  // the connect scenario's own close: next connection
      if (plan_.cycle) do_connect();
      return;
    }
    if (state_ != state::ready) return setup_failed("closed during set-up: " + ec.message());
    st_.lost.fetch_add(1, std::memory_order_relaxed);
    st_.add_error("read: " + ec.message());
    if (plan_.cycle) do_connect();
  }

  // Handles every complete frame buffered on `l`; false when reading stops (the link closed
  // or was replaced).
  bool parse_frames(const std::shared_ptr<link>& l) {
    auto& b = l->rbuf;
    for (;;) {
      auto data = b.data();
      std::span<const std::uint8_t> d(static_cast<const std::uint8_t*>(data.data()), data.size());
      ws::frame_header h;
      auto st = ws::parse_server_header(d, k_read_message_max, h);
      if (st == ws::parse_status::incomplete) return true;
      if (st != ws::parse_status::ok) {
        protocol_failure(st == ws::parse_status::too_big ? "read: message too big"
                                                         : "read: protocol error");
        return false;
      }
      if (d.size() - h.size < h.length) return true;  // the payload is still coming
      std::string_view payload(reinterpret_cast<const char*>(d.data() + h.size),
                               static_cast<std::size_t>(h.length));
      on_ws_frame(*l, h, payload);
      b.consume(h.size + static_cast<std::size_t>(h.length));
      if (l != link_ || l->closed) return false;
    }
  }

  void protocol_failure(const std::string& why) {
    if (state_ == state::closing) {  // the connect scenario's connection is done anyway
      close_link(*link_);
      if (plan_.cycle) do_connect();
      return;
    }
    if (state_ != state::ready) return setup_failed(why);
    close_link(*link_);
    st_.lost.fetch_add(1, std::memory_order_relaxed);
    st_.add_error(why);
    if (plan_.cycle) do_connect();
  }

  void on_ws_frame(link& l, const ws::frame_header& h, std::string_view payload) {
    switch (h.op) {
      case ws::opcode::text:
      case ws::opcode::binary:
        if (l.in_message) return protocol_failure("read: protocol error");
        if (h.fin) return on_frame(payload);
        l.in_message = true;
        l.fragments.assign(payload);
        return;
      case ws::opcode::continuation:
        if (!l.in_message) return protocol_failure("read: protocol error");
        if (l.fragments.size() + payload.size() > k_read_message_max)
          return protocol_failure("read: message too big");
        l.fragments.append(payload);
        if (h.fin) {
          l.in_message = false;
          std::string m = std::move(l.fragments);
          l.fragments = std::string();
          on_frame(m);
        }
        return;
      case ws::opcode::ping:
        return queue_frame(ws::opcode::pong, payload);
      case ws::opcode::pong:
        return;
      case ws::opcode::close:
        return on_close_frame(l, ws::parse_close(payload));
    }
  }

  void on_close_frame(link& l, const ws::close_info& ci) {
    // The answer to the connect scenario's own close: read on until the server ends the
    // TCP connection (on_lost reconnects), so that the server closes first and keeps the
    // TIME_WAIT, as RFC 6455 7.1.1 asks (and as Beast's client did).
    if (state_ == state::closing) return;
    const std::uint16_t code = ci.code;
    // The server closes: answer (echoing its code, or 1002 for an invalid close body),
    // then close the socket.
    if (!l.close_after_write) {
      std::uint16_t answer = ci.error ? ci.error : code == 1005 ? 0 : code;
      queue_frame(ws::opcode::close, ws::close_body(answer, {}));
      l.close_after_write = true;
    }
    if (state_ != state::ready) {
      close_link(l);
      return setup_failed("closed during set-up: close_" + std::to_string(code));
    }
    l.closed = true;  // read no further; the write handler closes the socket
    st_.lost.fetch_add(1, std::memory_order_relaxed);
    st_.add_error("close_" + std::to_string(code));
    if (plan_.cycle) do_connect();
  }

  // Queues one masked frame behind the write in flight (one write in flight per link; the
  // frames queued meanwhile go out together in the next).
  void queue_frame(ws::opcode op, std::string_view payload) {
    auto& l = *link_;
    if (l.close_after_write) return;  // nothing after a close frame
    ws::append_masked_frame(l.out, op, payload, next_mask());
    ++l.out_frames;
    if (!l.write_busy) flush(link_);
  }

  void flush(const std::shared_ptr<link>& l) {
    l->writing.swap(l->out);
    l->out.clear();
    l->writing_frames = l->out_frames;
    l->out_frames = 0;
    l->write_busy = true;
    asio::async_write(l->sock, asio::buffer(l->writing),
                     [self = shared(), l](error_code ec, std::size_t) {
                       l->write_busy = false;
                       l->writing.clear();
                       l->writing_frames = 0;
                       if (ec) return;  // the read side reports it
                       bool current = l == self->link_ && !self->stopping_;
                       if (!l->out.empty() && (current || l->close_after_write))
                         return self->flush(l);
                       if (l->close_after_write) {
                         error_code ignored;
                         l->sock.close(ignored);
                       }
                     });
  }

  void on_frame(std::string_view text) {
    if (state_ == state::closing) return;  // after our close: nothing more to count
    // The frame's JSON lives only in this call: a stack arena spares the allocator.
    unsigned char arena[4096];
    json::monotonic_resource mr(arena, sizeof arena);
    error_code ec;
    json::value v = json::parse(text, ec, &mr);
    if (ec || !v.is_object()) {
      st_.add_error("bad_frame");
      return;
    }
    const auto& o = v.get_object();
    auto type = string_field(o, "type");
    if (type == "message") {
      on_message(o);
    } else if (type == "ack") {
      on_ack(o);
    } else if (type == "hello") {
      if (state_ != state::wait_hello) return;
      if (plan_.room.empty()) return on_ready();
      state_ = state::wait_joined;
    } else if (type == "joined") {
      if (state_ != state::wait_joined || string_field(o, "room") != plan_.room) return;
      checker_.start(int_field(o, "last_seq").value_or(0));
      on_ready();
    } else if (type == "error") {
      auto code = string_field(o, "code");
      st_.add_error(code.empty() ? std::string("error") : std::string(code));
      if (state_ != state::ready) return setup_failed("error frame during set-up");
      if (send_.closed_loop && cid_time(string_field(o, "ref"))) {
        --in_flight_;
        fill_window();
      }
    }
    // pong, history (the connect-time replay of a fresh room), typing, read, notify: ignored.
  }

  void on_ready() {
    std::int64_t t = now_us();
    bool first = !setup_reported_;
    if (plan_.cycle) {
      if (st_.measuring(t)) {
        st_.connects.fetch_add(1, std::memory_order_relaxed);
        st_.connect_latency.record(static_cast<std::uint64_t>(t - attempt_us_));
      }
    } else {
      st_.connect_latency.record(static_cast<std::uint64_t>(t - attempt_us_));
    }
    state_ = state::ready;
    if (!plan_.cycle) deadline_.cancel();
    if (first) {
      setup_reported_ = true;
      st_.established.fetch_add(1, std::memory_order_relaxed);
      if (on_setup_) on_setup_(true);
    }
    if (plan_.cycle) {
      // Close (1000) and wait for the server's close frame; on_close_frame reconnects.
      state_ = state::closing;
      queue_frame(ws::opcode::close, ws::close_body(1000, {}));
    }
  }

  void setup_failed(const std::string& why) {
    deadline_.cancel();  // reported once: a later timeout is not a second failure
    st_.add_error(why);
    if (link_) close_link(*link_);
    if (!setup_reported_) {
      setup_reported_ = true;
      st_.failed.fetch_add(1, std::memory_order_relaxed);
      if (on_setup_) on_setup_(false);
    }
    if (plan_.cycle && !stopping_) {
      // Retry after a pause, so a refusing server is not hammered in a tight loop.
      timer_.expires_after(std::chrono::milliseconds(10));
      timer_.async_wait([self = shared()](error_code ec) {
        if (!ec) self->do_connect();
      });
    }
  }

  void on_ack(const json::object& o) {
    std::int64_t t = now_us();
    st_.acked_total.fetch_add(1, std::memory_order_relaxed);
    auto sched = cid_time(string_field(o, "cid"));
    if (st_.measuring(t)) {
      st_.acked_sends.fetch_add(1, std::memory_order_relaxed);
      if (sched)
        st_.ack_latency.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, t - *sched)));
    }
    if (send_.closed_loop && sending_) {
      --in_flight_;
      fill_window();
    }
  }

  void on_message(const json::object& o) {
    std::int64_t t = now_us();
    st_.deliveries_total.fetch_add(1, std::memory_order_relaxed);
    switch (checker_.on_message(string_field(o, "room"), int_field(o, "seq").value_or(0))) {
      case seq_checker::verdict::in_order:
      case seq_checker::verdict::gap:
        break;
      case seq_checker::verdict::out_of_order:
        st_.out_of_order.fetch_add(1, std::memory_order_relaxed);
        break;
      case seq_checker::verdict::duplicate:
        st_.duplicates.fetch_add(1, std::memory_order_relaxed);
        break;
      case seq_checker::verdict::foreign_room:
        st_.foreign_room.fetch_add(1, std::memory_order_relaxed);
        return;
    }
    auto sched = cid_time(string_field(o, "cid"));
    if (sched && st_.measuring(*sched)) {
      st_.offered_delivered.fetch_add(1, std::memory_order_relaxed);
    }
    if (st_.measuring(t)) {
      st_.deliveries.fetch_add(1, std::memory_order_relaxed);
      if (sched) {
        st_.deliver_latency.record(
            static_cast<std::uint64_t>(std::max<std::int64_t>(0, t - *sched)));
      }
    }
  }

  // Open loop: sends every message whose scheduled time has come, then sleeps until the next.
  void schedule() {
    std::int64_t t = now_us();
    while (!stopping_ && state_ == state::ready) {
      auto at = static_cast<std::int64_t>(send_.begin_us + send_.phase_us +
                                          static_cast<double>(next_k_) * send_.interval_us);
      if (at >= send_.end_us) return;
      if (at > t) {
        timer_.expires_at(at_us(at));
        timer_.async_wait([self = shared()](error_code ec) {
          if (!ec) self->schedule();
        });
        return;
      }
      send_one(at);
    }
  }

  void fill_window() {
    std::int64_t t = now_us();
    while (!stopping_ && state_ == state::ready && in_flight_ < send_.window && t < send_.end_us) {
      send_one(t);
      ++in_flight_;
    }
  }

  void send_one(std::int64_t scheduled_us) {
    std::string cid = std::to_string(scheduled_us) + "." + std::to_string(next_k_++);
    std::string& f = frame_;
    f.clear();
    f += R"({"type":"send","room":")";
    f += plan_.room;
    f += R"(","text":")";
    f += send_.text;
    f += R"(","cid":")";
    f += cid;
    f += R"("})";
    if (st_.measuring(scheduled_us)) {
      st_.offered_sends.fetch_add(1, std::memory_order_relaxed);
      st_.offered_deliveries.fetch_add(static_cast<std::uint64_t>(plan_.room_size),
                                       std::memory_order_relaxed);
    }
    if (link_->out_frames + link_->writing_frames >= k_max_queue) {
      st_.backlog_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    st_.sent_total.fetch_add(1, std::memory_order_relaxed);
    queue_frame(ws::opcode::text, f);
  }

  strand_type strand_;
  asio::steady_timer timer_;
  asio::steady_timer deadline_;
  conn_plan plan_;
  stats& st_;
  std::function<void(bool)> on_setup_;
  std::string target_;
  std::string host_;

  std::shared_ptr<link> link_;
  state state_ = state::connecting;
  bool stopping_ = false;
  bool setup_reported_ = false;
  std::int64_t attempt_us_ = 0;

  send_plan send_;
  bool sending_ = false;
  std::uint64_t next_k_ = 0;
  int in_flight_ = 0;
  std::string frame_;  // scratch for the frame being built
  std::uint64_t rng_ = 1;
  std::size_t read_chunk_ = k_read_chunk_min;

  seq_checker checker_;
};

}  // namespace

std::shared_ptr<load_client> load_client::make(asio::io_context& ioc, conn_plan plan, stats& st,
                                             std::function<void(bool)> on_setup) {
  return std::make_shared<load_client_impl>(ioc, std::move(plan), st, std::move(on_setup));
}

}  // namespace parley::tools::bench
