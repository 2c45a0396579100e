#include "tools/bench/connection.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <deque>

#include "tools/bench/checker.h"
#include "tools/common.h"

namespace parley::tools::bench {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using strand_type = net::strand<net::io_context::executor_type>;

constexpr auto k_setup_timeout = std::chrono::seconds(10);
// Frames queued locally beyond this are dropped (and counted): the server stopped reading.
constexpr std::size_t k_max_queue = 100'000;
// Gap bookkeeping per connection beyond this is counted straight away.
constexpr std::size_t k_read_message_max = 16 * 1024 * 1024;

// One WebSocket stream with what belongs to it. A connection replaces its link when it
// reconnects (connect scenario); handlers of an old link see it is stale and stop.
struct link {
  explicit link(const strand_type& s) : ws(s) {}
  websocket::stream<beast::tcp_stream> ws;
  beast::flat_buffer buf;
  websocket::response_type res;
};

std::string_view str_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string_view(v->get_string()) : std::string_view();
}

std::optional<std::int64_t> int_field(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  if (v && v->is_int64()) return v->get_int64();
  if (v && v->is_uint64()) return static_cast<std::int64_t>(v->get_uint64());
  return std::nullopt;
}

// The scheduled time of a bench cid "<t_us>.<k>"; nullopt for any other string.
std::optional<std::int64_t> cid_time(std::string_view cid) {
  auto dot = cid.find('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  std::int64_t t = 0;
  auto r = std::from_chars(cid.data(), cid.data() + dot, t);
  if (r.ec != std::errc() || r.ptr != cid.data() + dot) return std::nullopt;
  return t;
}

class connection_impl final : public connection {
 public:
  connection_impl(net::io_context& ioc, conn_plan plan, stats& st,
                  std::function<void(bool)> on_setup)
      : strand_(net::make_strand(ioc)),
        timer_(strand_),
        plan_(std::move(plan)),
        st_(st),
        on_setup_(std::move(on_setup)),
        checker_(plan_.room) {
    target_ = "/ws?token=" + url_encode(plan_.token);
    if (!plan_.room.empty()) target_ += "&room=" + url_encode(plan_.room);
    host_ = plan_.target.host + ":" + std::to_string(plan_.target.port);
  }

  void start() override {
    net::post(strand_, [self = shared()] { self->do_connect(); });
  }

  void start_sending(const send_plan& p) override {
    net::post(strand_, [self = shared(), p] {
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
    net::post(strand_, [self = shared()] {
      self->stopping_ = true;
      self->timer_.cancel();
      self->st_.gaps.fetch_add(self->checker_.finish(), std::memory_order_relaxed);
      if (self->link_) {
        error_code ignored;
        beast::get_lowest_layer(self->link_->ws).socket().close(ignored);
      }
    });
  }

 private:
  enum class state { connecting, wait_hello, wait_joined, ready, closing };

  std::shared_ptr<connection_impl> shared() {
    return std::static_pointer_cast<connection_impl>(shared_from_this());
  }

  void do_connect() {
    if (stopping_) return;
    link_ = std::make_shared<link>(strand_);
    state_ = state::connecting;
    attempt_us_ = now_us();
    auto& stream = beast::get_lowest_layer(link_->ws);
    auto& sock = stream.socket();
    error_code ec;
    sock.open(tcp::v4(), ec);
    if (ec) return setup_failed("socket: " + ec.message());
    if (!plan_.source_addr.empty()) {
      // Defer the port choice to connect(), so ports are unique per 4-tuple, not per address.
      int one = 1;
      ::setsockopt(sock.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      sock.bind(tcp::endpoint(net::ip::make_address_v4(plan_.source_addr), 0), ec);
      if (ec) return setup_failed("bind: " + ec.message());
    }
    stream.expires_after(k_setup_timeout);
    tcp::endpoint ep(net::ip::make_address_v4(plan_.target.host), plan_.target.port);
    stream.async_connect(ep, [self = shared(), l = link_](error_code ec) {
      if (l != self->link_) return;
      self->on_connect(ec);
    });
  }

  void on_connect(error_code ec) {
    if (stopping_) return;
    if (ec) return setup_failed("connect: " + ec.message());
    auto& stream = beast::get_lowest_layer(link_->ws);
    stream.socket().set_option(tcp::no_delay(true), ec);
    stream.expires_never();  // the websocket stream keeps its own timeouts from here
    websocket::stream_base::timeout t{};
    t.handshake_timeout = k_setup_timeout;
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    link_->ws.set_option(t);
    link_->ws.read_message_max(k_read_message_max);
    link_->ws.async_handshake(link_->res, host_, target_,
                              [self = shared(), l = link_](error_code ec) {
                                if (l != self->link_) return;
                                self->on_handshake(ec);
                              });
  }

  void on_handshake(error_code ec) {
    if (stopping_) return;
    if (ec == websocket::error::upgrade_declined) {
      return setup_failed("http_" + std::to_string(link_->res.result_int()));
    }
    if (ec) return setup_failed("handshake: " + ec.message());
    state_ = state::wait_hello;
    link_->ws.text(true);
    do_read();
  }

  void do_read() {
    link_->ws.async_read(link_->buf, [self = shared(), l = link_](error_code ec, std::size_t) {
      if (l != self->link_) return;
      self->on_read(ec);
    });
  }

  void on_read(error_code ec) {
    if (stopping_) return;
    if (ec) {
      if (state_ == state::closing) return;  // the close handler reconnects
      if (state_ != state::ready) return setup_failed("closed during set-up: " + ec.message());
      st_.lost.fetch_add(1, std::memory_order_relaxed);
      if (ec == websocket::error::closed) {
        st_.add_error("close_" + std::to_string(link_->ws.reason().code));
      } else {
        st_.add_error("read: " + ec.message());
      }
      if (plan_.cycle) do_connect();
      return;
    }
    auto data = link_->buf.cdata();
    on_frame(std::string_view(static_cast<const char*>(data.data()), data.size()));
    link_->buf.consume(link_->buf.size());
    if (state_ != state::closing) do_read();
  }

  void on_frame(std::string_view text) {
    error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      st_.add_error("bad_frame");
      return;
    }
    const auto& o = v.get_object();
    auto type = str_field(o, "type");
    if (type == "message") {
      on_message(o);
    } else if (type == "ack") {
      on_ack(o);
    } else if (type == "hello") {
      if (state_ != state::wait_hello) return;
      if (plan_.room.empty()) return on_ready();
      state_ = state::wait_joined;
    } else if (type == "joined") {
      if (state_ != state::wait_joined || str_field(o, "room") != plan_.room) return;
      checker_.start(int_field(o, "last_seq").value_or(0));
      on_ready();
    } else if (type == "error") {
      auto code = str_field(o, "code");
      st_.add_error(code.empty() ? std::string("error") : std::string(code));
      if (state_ != state::ready) return setup_failed("error frame during set-up");
      if (send_.closed_loop && cid_time(str_field(o, "ref"))) {
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
    if (first) {
      setup_reported_ = true;
      st_.established.fetch_add(1, std::memory_order_relaxed);
      if (on_setup_) on_setup_(true);
    }
    if (plan_.cycle) {
      state_ = state::closing;
      link_->ws.async_close(websocket::close_code::normal,
                            [self = shared(), l = link_](error_code) {
                              if (l != self->link_) return;
                              self->do_connect();
                            });
    }
  }

  void setup_failed(const std::string& why) {
    st_.add_error(why);
    if (link_) {
      error_code ignored;
      beast::get_lowest_layer(link_->ws).socket().close(ignored);
    }
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
    auto sched = cid_time(str_field(o, "cid"));
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
    switch (checker_.on_message(str_field(o, "room"), int_field(o, "seq").value_or(0))) {
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
    auto sched = cid_time(str_field(o, "cid"));
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
    std::string f;
    f.reserve(64 + plan_.room.size() + send_.text.size() + cid.size());
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
    if (queue_.size() >= k_max_queue) {
      st_.backlog_dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    st_.sent_total.fetch_add(1, std::memory_order_relaxed);
    queue_.push_back(std::move(f));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    link_->ws.async_write(net::buffer(queue_.front()),
                          [self = shared(), l = link_](error_code ec, std::size_t) {
                            if (l != self->link_) return;
                            self->queue_.pop_front();
                            self->writing_ = false;
                            if (ec || self->stopping_) return;  // the read side reports it
                            if (!self->queue_.empty()) self->do_write();
                          });
  }

  strand_type strand_;
  net::steady_timer timer_;
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
  std::deque<std::string> queue_;
  bool writing_ = false;

  seq_checker checker_;
};

}  // namespace

std::shared_ptr<connection> connection::make(net::io_context& ioc, conn_plan plan, stats& st,
                                             std::function<void(bool)> on_setup) {
  return std::make_shared<connection_impl>(ioc, std::move(plan), st, std::move(on_setup));
}

}  // namespace parley::tools::bench
