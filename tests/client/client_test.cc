// Tests of parley_client against a tiny in-process Beast server on 127.0.0.1:0.
//
// The test server (one io_context, one thread, one coroutine per connection):
//   GET /ws?token=...  (or with Authorization) upgrades; a request without either gets
//                      401 {"error":"unauthorized",...}, like parleyd.
//   WebSocket text frames: "close:N" -> the server closes with code N; "flood:N" -> N
//                      frames "f0".."fN-1"; "auth?" -> the Authorization header seen;
//                      "mute" -> the server stops reading (and never answers a close);
//                      anything else is echoed.
//   GET|POST /api/echo -> 200 (201 for POST) JSON {"method","target","body","auth"}.
//   GET /slow          -> never answers.
#include "client/client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <thread>
#include <vector>

namespace parley::client {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
constexpr auto k_tuple = net::as_tuple(net::use_awaitable);

class test_server {
 public:
  test_server() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    net::co_spawn(ioc_, accept_loop(), net::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~test_server() {
    ioc_.stop();
    thread_.join();
  }

  std::string ws_base() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  std::string http_base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // The close code of the last close frame the server received from a client (0: none).
  int client_close_code() const { return client_close_code_.load(); }

 private:
  net::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(k_tuple);
      if (ec) co_return;
      net::co_spawn(ioc_, session(std::move(sock)), net::detached);
    }
  }

  net::awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    auto [ec, n] = co_await http::async_read(stream, buf, req, k_tuple);
    if (ec) co_return;
    std::string target(req.target());
    std::string auth(req[http::field::authorization]);

    if (websocket::is_upgrade(req)) {
      if (target.find("token=") == std::string::npos && auth.empty()) {
        http::response<http::string_body> res{http::status::unauthorized, req.version()};
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"error":"unauthorized","message":"missing token"})";
        res.prepare_payload();
        co_await http::async_write(stream, res, k_tuple);
        co_return;
      }
      websocket::stream<beast::tcp_stream> ws(std::move(stream));
      auto [aec] = co_await ws.async_accept(req, k_tuple);
      if (aec) co_return;
      co_await ws_loop(ws, auth);
      co_return;
    }

    if (target == "/slow") {
      net::steady_timer t(ioc_, 1h);
      co_await t.async_wait(k_tuple);
      co_return;
    }
    http::response<http::string_body> res{http::status::not_found, req.version()};
    if (target.starts_with("/api/echo")) {
      res.result(req.method() == http::verb::post ? http::status::created : http::status::ok);
      json::object o{{"method", std::string(req.method_string())},
                     {"target", target},
                     {"body", req.body()},
                     {"auth", auth}};
      res.body() = json::serialize(o);
      res.set(http::field::content_type, "application/json");
      res.set("X-Test", "yes");
    }
    res.prepare_payload();
    co_await http::async_write(stream, res, k_tuple);
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  net::awaitable<void> ws_loop(websocket::stream<beast::tcp_stream>& ws, std::string auth) {
    for (;;) {
      beast::flat_buffer buf;
      auto [ec, n] = co_await ws.async_read(buf, k_tuple);
      if (ec) {
        if (ec == websocket::error::closed) client_close_code_.store(ws.reason().code);
        co_return;
      }
      std::string text = beast::buffers_to_string(buf.data());
      ws.text(true);
      if (text.starts_with("close:")) {
        auto code = static_cast<std::uint16_t>(std::stoi(text.substr(6)));
        co_await ws.async_close(websocket::close_reason(code), k_tuple);
        co_return;
      } else if (text.starts_with("flood:")) {
        int count = std::stoi(text.substr(6));
        for (int i = 0; i < count; ++i) {
          std::string f = "f" + std::to_string(i);
          auto [wec, wn] = co_await ws.async_write(net::buffer(f), k_tuple);
          if (wec) co_return;
        }
      } else if (text == "mute") {
        net::steady_timer t(ioc_, 1h);
        co_await t.async_wait(k_tuple);
        co_return;
      } else {
        if (text == "auth?") text = auth;
        auto [wec, wn] = co_await ws.async_write(net::buffer(text), k_tuple);
        if (wec) co_return;
      }
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<int> client_close_code_{0};
  std::thread thread_;
};

// --- parse_url -----------------------------------------------------------------------

TEST(parse_url, ws_with_port_path_and_query) {
  auto u = parse_url("ws://127.0.0.1:8080/ws?token=abc&receiverId=bob");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "ws");
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/ws?token=abc&receiverId=bob");
}

TEST(parse_url, http_defaults) {
  auto u = parse_url("http://example.com");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "example.com");
  EXPECT_EQ(u->port, "80");
  EXPECT_EQ(u->target, "/");
  u = parse_url("HTTP://example.com:9/a/b");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->target, "/a/b");
}

TEST(parse_url, ipv6_host_loses_brackets) {
  auto u = parse_url("ws://[::1]:7000/ws");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, "7000");
  EXPECT_EQ(u->target, "/ws");
}

TEST(parse_url, fragment_is_dropped) {
  auto u = parse_url("http://h:1/p?q=1#frag");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/p?q=1");
}

TEST(parse_url, malformed) {
  for (const char* bad : {"", "ws://", "ftp://h:1/", "wss://h:1/", "h:1/ws", "ws://h:99999/",
                          "ws://h:abc/", "ws://h:0/", "ws://u@h:1/", "http://:80/", "not a url"}) {
    EXPECT_FALSE(parse_url(bad)) << bad;
  }
}

// --- ws_client -----------------------------------------------------------------------

std::unique_ptr<ws_client> must_connect(const test_server& s, const std::string& target,
                                        connect_options opts = {}) {
  connect_error err;
  auto c = ws_client::connect(s.ws_base() + target, opts, &err);
  EXPECT_TRUE(c) << err.http_status << " " << err.body;
  return c;
}

TEST(ws_client, connect_send_recv) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->is_open());
  EXPECT_TRUE(c->send_text("hello"));
  EXPECT_EQ(c->recv(5s), "hello");
  EXPECT_TRUE(c->send_json(json::object{{"type", "ping"}, {"n", 1}}));
  auto o = c->recv_json(5s);
  ASSERT_TRUE(o);
  EXPECT_EQ((*o)["type"], "ping");
  EXPECT_EQ((*o)["n"], 1);
}

TEST(ws_client, recv_json_rejects_non_object) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  c->send_text("[1,2]");
  EXPECT_FALSE(c->recv_json(5s));
  EXPECT_TRUE(c->is_open());
}

TEST(ws_client, recv_times_out) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(c->recv(150ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 140ms);
  EXPECT_TRUE(c->is_open());
}

TEST(ws_client, large_frame_round_trip) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  std::string big(2 * 1024 * 1024, 'x');
  c->send_text(big);
  auto back = c->recv(10s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->size(), big.size());
}

TEST(ws_client, bearer_header_and_local_address) {
  test_server s;
  connect_options opts;
  opts.bearer = "jwt-123";
  opts.local_address = "127.0.0.1";
  auto c = must_connect(s, "/ws", opts);
  ASSERT_TRUE(c);
  c->send_text("auth?");
  EXPECT_EQ(c->recv(5s), "Bearer jwt-123");
}

TEST(ws_client, bad_local_address_fails) {
  test_server s;
  connect_options opts;
  opts.local_address = "not-an-address";
  connect_error err;
  EXPECT_FALSE(ws_client::connect(s.ws_base() + "/ws?token=t", opts, &err));
  EXPECT_EQ(err.http_status, 0);
  EXPECT_FALSE(err.body.empty());
}

TEST(ws_client, refusal_reports_status_and_body) {
  test_server s;
  connect_error err;
  auto c = ws_client::connect(s.ws_base() + "/ws", {}, &err);
  EXPECT_FALSE(c);
  EXPECT_EQ(err.http_status, 401);
  auto body = json::parse(err.body);
  EXPECT_EQ(body.at("error"), "unauthorized");
}

TEST(ws_client, network_error_has_no_status) {
  unsigned short port;
  {
    net::io_context ioc;
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }  // closed: connecting is refused
  connect_error err;
  auto c = ws_client::connect("ws://127.0.0.1:" + std::to_string(port) + "/ws", {}, &err);
  EXPECT_FALSE(c);
  EXPECT_EQ(err.http_status, 0);
  EXPECT_FALSE(err.body.empty());
  EXPECT_FALSE(ws_client::connect("nonsense", {}, &err));
}

TEST(ws_client, server_close_code_seen_by_wait_closed) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  c->send_text("before");
  c->send_text("close:4002");
  EXPECT_EQ(c->wait_closed(5s), 4002);
  EXPECT_FALSE(c->is_open());
  // Frames received before the close are still there.
  EXPECT_EQ(c->recv(1s), "before");
  EXPECT_FALSE(c->recv(50ms));
  EXPECT_FALSE(c->send_text("after"));
}

TEST(ws_client, wait_closed_times_out_while_open) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  EXPECT_FALSE(c->wait_closed(100ms));
}

TEST(ws_client, client_close_sends_code) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  c->close(4100);
  EXPECT_FALSE(c->is_open());
  EXPECT_EQ(c->wait_closed(1s), 4100);  // the server echoes the code in its close frame
  for (int i = 0; i < 100 && s.client_close_code() == 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(s.client_close_code(), 4100);
  c->close(1000);  // a second close is a no-op
}

TEST(ws_client, pause_reading_holds_frames_until_resumed) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  c->pause_reading(true);
  c->send_text("flood:5");
  // The read already in flight when pausing may still deliver one frame.
  int early = 0;
  while (c->recv(300ms)) ++early;
  EXPECT_LE(early, 1);
  c->pause_reading(false);
  int late = 0;
  while (early + late < 5 && c->recv(5s)) ++late;
  EXPECT_EQ(early + late, 5);
  // Closing while paused still completes the close handshake.
  c->pause_reading(true);
  c->close(1000);
  EXPECT_EQ(c->wait_closed(2s), 1000);
}

TEST(ws_client, concurrent_senders) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  constexpr int k_threads = 4, k_each = 50;
  std::vector<std::thread> senders;
  for (int t = 0; t < k_threads; ++t) {
    senders.emplace_back([&c, t] {
      for (int i = 0; i < k_each; ++i) c->send_text(std::to_string(t) + ":" + std::to_string(i));
    });
  }
  int got = 0;
  while (got < k_threads * k_each && c->recv(5s)) ++got;
  for (auto& t : senders) t.join();
  EXPECT_EQ(got, k_threads * k_each);
}

TEST(ws_client, destructor_does_not_hang_on_unresponsive_server) {
  test_server s;
  auto c = must_connect(s, "/ws?token=t");
  ASSERT_TRUE(c);
  c->send_text("mute");
  c->send_text("never answered");
  auto start = std::chrono::steady_clock::now();
  c.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
}

TEST(ws_client, destroy_right_after_connect_and_send) {
  test_server s;
  for (int i = 0; i < 5; ++i) {
    auto c = must_connect(s, "/ws?token=t");
    ASSERT_TRUE(c);
    c->send_text("x");
    c->pause_reading(i % 2 == 0);
  }
}

// --- http_request ----------------------------------------------------------------------

TEST(http_request, get_and_post) {
  test_server s;
  auto r = http_request(s.http_base(), "GET", "/api/echo?x=1");
  EXPECT_EQ(r.status, 200) << r.body;
  auto o = json::parse(r.body).as_object();
  EXPECT_EQ(o["method"], "GET");
  EXPECT_EQ(o["target"], "/api/echo?x=1");
  EXPECT_EQ(o["auth"], "");
  EXPECT_EQ(r.headers["x-test"], "yes");
  EXPECT_EQ(r.headers["content-type"], "application/json");

  r = http_request(s.ws_base(), "post", "/api/echo", R"({"a":1})", "tok");
  EXPECT_EQ(r.status, 201) << r.body;
  o = json::parse(r.body).as_object();
  EXPECT_EQ(o["method"], "POST");
  EXPECT_EQ(o["body"], R"({"a":1})");
  EXPECT_EQ(o["auth"], "Bearer tok");

  r = http_request(s.http_base(), "DELETE", "/nope");
  EXPECT_EQ(r.status, 404);
}

TEST(http_request, timeout_and_errors) {
  test_server s;
  auto start = std::chrono::steady_clock::now();
  auto r = http_request(s.http_base(), "GET", "/slow", {}, std::nullopt, 200ms);
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.body.find("timed out"), std::string::npos) << r.body;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);

  r = http_request("bogus", "GET", "/");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.body.empty());
  r = http_request(s.http_base(), "FROB", "/");
  EXPECT_EQ(r.status, 0);
}

}  // namespace
}  // namespace parley::client
