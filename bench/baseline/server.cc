#include "baseline/server.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <cctype>
#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace parley::baseline {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// A connection whose queue grows past this is closed (1008), like parleyd's slow readers.
constexpr std::size_t k_max_queue = 100'000;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i] == '+' ? ' ' : s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view target) {
  std::map<std::string, std::string> q;
  auto qm = target.find('?');
  if (qm == std::string_view::npos) return q;
  std::string_view rest = target.substr(qm + 1);
  while (!rest.empty()) {
    auto amp = rest.find('&');
    auto part = rest.substr(0, amp);
    auto eq = part.find('=');
    if (eq != std::string_view::npos) {
      q[percent_decode(part.substr(0, eq))] = percent_decode(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    rest = rest.substr(amp + 1);
  }
  return q;
}

// The `sub` of a JWT, unverified (the baseline does no authentication); "anonymous" if none.
std::string jwt_subject(std::string_view token) {
  auto a = token.find('.');
  auto b = token.find('.', a == std::string_view::npos ? a : a + 1);
  if (a == std::string_view::npos || b == std::string_view::npos) return "anonymous";
  std::string_view p = token.substr(a + 1, b - a - 1);
  std::string bytes;
  unsigned acc = 0;
  int bits = 0;
  for (char c : p) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) return "anonymous";
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  error_code ec;
  auto v = json::parse(bytes, ec);
  if (ec || !v.is_object()) return "anonymous";
  auto* sub = v.get_object().if_contains("sub");
  if (sub && sub->is_string()) return std::string(sub->get_string());
  if (sub && sub->is_int64()) return std::to_string(sub->get_int64());
  return "anonymous";
}

using frame_ptr = std::shared_ptr<const std::string>;

frame_ptr make_frame(const json::object& o) {
  return std::make_shared<const std::string>(json::serialize(o));
}

class websocket_session;

// One room: its seq and its joined connections. Everything under mu.
struct room {
  std::mutex mu;
  std::int64_t seq = 0;
  std::vector<std::weak_ptr<websocket_session>> members;
};

class registry {
 public:
  std::shared_ptr<room> get(const std::string& id) {
    std::lock_guard lock(mu_);
    auto& r = rooms_[id];
    if (!r) r = std::make_shared<room>();
    return r;
  }
  std::string new_group_id() {
    std::lock_guard lock(mu_);
    return "g:b" + std::to_string(++groups_);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<room>> rooms_;
  std::uint64_t groups_ = 0;
};

class websocket_session : public std::enable_shared_from_this<websocket_session> {
 public:
  websocket_session(tcp::socket&& s, registry& reg) : ws_(std::move(s)), reg_(reg) {}

  ~websocket_session() {
    for (auto& [id, r] : joined_) {
      std::lock_guard lock(r->mu);
      std::erase_if(r->members, [](const auto& w) { return w.expired(); });
    }
  }

  void start(http::request<http::string_body> req) {
    auto q = parse_query(req.target());
    user_ = jwt_subject(q["token"]);
    default_room_ = q["room"];
    beast::get_lowest_layer(ws_).expires_never();
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(req, [self = shared_from_this()](error_code ec) { self->on_accept(ec); });
  }

  // Queues a frame; may be called from any thread.
  void deliver(const frame_ptr& f) {
    std::lock_guard lock(qmu_);
    if (closing_) return;
    if (queue_.size() >= k_max_queue) {
      closing_ = true;
      net::post(ws_.get_executor(), [self = shared_from_this()] {
        self->ws_.async_close(websocket::close_code::policy_error, [self](error_code) {});
      });
      return;
    }
    queue_.push_back(f);
    if (!writing_) {
      writing_ = true;
      net::post(ws_.get_executor(), [self = shared_from_this()] { self->do_write(); });
    }
  }

 private:
  void on_accept(error_code ec) {
    if (ec) return;
    static std::atomic<std::uint64_t> sessions{0};
    deliver(make_frame({{"type", "hello"},
                        {"user", user_},
                        {"session", "s" + std::to_string(++sessions)},
                        {"node", "baseline"},
                        {"server_time", now_ms()},
                        {"protocol", 1}}));
    if (!default_room_.empty()) join(default_room_, nullptr);
    do_read();
  }

  void join(const std::string& id, const json::value* rid) {
    auto r = reg_.get(id);
    std::lock_guard lock(r->mu);
    if (!joined_.count(id)) {
      r->members.push_back(weak_from_this());
      joined_[id] = r;
    }
    json::object joined{{"type", "joined"}, {"room", id}, {"last_seq", r->seq}, {"read_seq", 0}};
    json::object history{
        {"type", "history"}, {"room", id}, {"messages", json::array()}, {"more", false}};
    if (rid) joined["rid"] = history["rid"] = *rid;
    deliver(make_frame(joined));
    deliver(make_frame(history));
  }

  void do_read() {
    ws_.async_read(buf_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return;  // closed: the session ends when the last handler lets go
      self->on_frame();
      self->buf_.consume(self->buf_.size());
      self->do_read();
    });
  }

  void error(std::string_view code, std::string_view msg, const json::value* rid) {
    json::object e{{"type", "error"}, {"code", code}, {"message", msg}, {"ref", nullptr}};
    if (rid) e["rid"] = *rid;
    deliver(make_frame(e));
  }

  void on_frame() {
    auto data = buf_.cdata();
    std::string_view text(static_cast<const char*>(data.data()), data.size());
    error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) return error("bad_request", "not a JSON object", nullptr);
    const auto& o = v.get_object();
    const json::value* rid = o.if_contains("rid");
    auto* type = o.if_contains("type");
    std::string_view t = type && type->is_string() ? std::string_view(type->get_string()) : "";
    if (t == "send") {
      on_send(o, rid);
    } else if (t == "ping") {
      json::object pong{{"type", "pong"}, {"server_time", now_ms()}};
      if (rid) pong["rid"] = *rid;
      deliver(make_frame(pong));
    } else if (t == "join") {
      auto* r = o.if_contains("room");
      if (!r || !r->is_string()) return error("bad_request", "room required", rid);
      join(std::string(r->get_string()), rid);
    } else {
      error("bad_request", "unsupported frame type", rid);
    }
  }

  void on_send(const json::object& o, const json::value* rid) {
    auto* r = o.if_contains("room");
    std::string id = r && r->is_string() ? std::string(r->get_string()) : default_room_;
    auto* text = o.if_contains("text");
    if (id.empty() || !text || !text->is_string() || text->get_string().empty()) {
      return error("bad_request", "send needs room and text", rid);
    }
    json::value cid = o.contains("cid") ? o.at("cid") : json::value(nullptr);
    auto rm = reg_.get(id);
    std::lock_guard lock(rm->mu);
    std::int64_t seq = ++rm->seq;
    std::int64_t ts = now_ms();
    std::string msg_id = id + "/" + std::to_string(seq);
    json::object ack{{"type", "ack"}, {"cid", cid},   {"room", id},
                     {"seq", seq},    {"id", msg_id}, {"ts", ts}};
    if (rid) ack["rid"] = *rid;
    deliver(make_frame(ack));
    auto msg = make_frame({{"type", "message"},
                           {"room", id},
                           {"seq", seq},
                           {"id", msg_id},
                           {"from", user_},
                           {"text", text->get_string()},
                           {"ts", ts},
                           {"cid", cid}});
    for (const auto& w : rm->members) {
      if (auto s = w.lock()) s->deliver(msg);
    }
  }

  // On the strand; writing_ is true.
  void do_write() {
    frame_ptr f;
    {
      std::lock_guard lock(qmu_);
      f = queue_.front();
    }
    ws_.text(true);
    ws_.async_write(net::buffer(*f), [self = shared_from_this(), f](error_code ec, std::size_t) {
      std::lock_guard lock(self->qmu_);
      self->queue_.pop_front();
      if (ec) {
        self->closing_ = true;
        self->queue_.clear();
        self->writing_ = false;
        return;
      }
      if (self->queue_.empty()) {
        self->writing_ = false;
        return;
      }
      net::post(self->ws_.get_executor(), [self] { self->do_write(); });
    });
  }

  websocket::stream<beast::tcp_stream> ws_;
  registry& reg_;
  beast::flat_buffer buf_;
  std::string user_;
  std::string default_room_;
  std::map<std::string, std::shared_ptr<room>> joined_;  // strand only

  std::mutex qmu_;
  std::deque<frame_ptr> queue_;
  bool writing_ = false;
  bool closing_ = false;
};

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(tcp::socket&& s, registry& reg) : stream_(std::move(s)), reg_(reg) {}

  void start() { do_read(); }

 private:
  void do_read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return;
      self->on_request();
    });
  }

  void on_request() {
    std::string_view target = req_.target();
    std::string_view path = target.substr(0, target.find('?'));
    if (websocket::is_upgrade(req_) && path == "/ws") {
      std::make_shared<websocket_session>(stream_.release_socket(), reg_)->start(std::move(req_));
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>(http::status::not_found,
                                                                   req_.version());
    res->set(http::field::content_type, "application/json");
    res->keep_alive(req_.keep_alive());
    if (path == "/api/rooms" && req_.method() == http::verb::post) {
      error_code ec;
      auto body = json::parse(req_.body(), ec);
      json::object room{{"id", reg_.new_group_id()}, {"kind", "group"}};
      if (!ec && body.is_object()) {
        if (auto* n = body.get_object().if_contains("name")) room["name"] = *n;
        if (auto* m = body.get_object().if_contains("members")) room["members"] = *m;
      }
      res->result(http::status::created);
      res->body() = json::serialize(room);
    } else if (path == "/healthz") {
      res->result(http::status::ok);
      res->body() = R"({"status":"ok"})";
    } else {
      res->body() = R"({"error":"not_found","message":"parley-baseline"})";
    }
    res->prepare_payload();
    http::async_write(stream_, *res, [self = shared_from_this(), res](error_code ec, std::size_t) {
      if (ec || !res->keep_alive()) {
        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        return;
      }
      self->do_read();
    });
  }

  beast::tcp_stream stream_;
  registry& reg_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
};

class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& ioc, tcp::acceptor&& a, registry& reg)
      : ioc_(ioc), acceptor_(std::move(a)), reg_(reg) {}

  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           [self = shared_from_this()](error_code ec, tcp::socket s) {
                             if (!ec) {
                               s.set_option(tcp::no_delay(true), ec);
                               std::make_shared<http_session>(std::move(s), self->reg_)->start();
                             }
                             if (self->acceptor_.is_open()) self->do_accept();
                           });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  registry& reg_;
};

}  // namespace

int run(const server_options& opts) {
  int threads = opts.threads > 0
                    ? opts.threads
                    : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  net::io_context ioc(threads);
  registry reg;
  error_code ec;
  tcp::endpoint ep(net::ip::make_address(opts.listen_host, ec), opts.listen_port);
  if (ec) {
    std::cerr << "parley-baseline: bad listen address " << opts.listen_host << "\n";
    return 1;
  }
  tcp::acceptor acceptor(ioc);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    std::cerr << "parley-baseline: listen on " << opts.listen_host << ":" << opts.listen_port
              << ": " << ec.message() << "\n";
    return 1;
  }
  auto bound = acceptor.local_endpoint();
  std::make_shared<listener>(ioc, std::move(acceptor), reg)->do_accept();
  std::cout << "parley-baseline listening on " << bound.address().to_string() << ":" << bound.port()
            << std::endl;

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&ioc](error_code, int) { ioc.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : pool) t.join();
  return 0;
}

}  // namespace parley::baseline
