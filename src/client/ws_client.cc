// ws_client over Boost.Beast. One io_context and one I/O thread per client; every access
// to the socket and the websocket stream happens on that thread. The other threads talk to
// it through asio::post() and read results from the state guarded by mu_.
//
// Lifetime: completion handlers capture `this`. The destructor closes the socket on the I/O
// thread (which completes every pending operation with an error), lets io_context::run()
// drain and joins the thread before any member is destroyed, so no handler outlives the
// object.
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "client/client.h"

namespace parley::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

// Frames up to this size are accepted from the server (the server's own limits are far
// lower; this only guards against a runaway peer).
constexpr std::size_t k_read_message_max = 16 * 1024 * 1024;
// How long the destructor waits for the server to answer our close frame.
constexpr std::chrono::milliseconds k_close_grace{1000};
// Close code reported when the connection ended without a close frame (RFC 6455 1006).
constexpr int k_abnormal_closure = 1006;

class ws_client_impl final : public ws_client {
 public:
  ws_client_impl() : work_(asio::make_work_guard(ioc_)), resolver_(ioc_), ws_(ioc_) {
    thread_ = std::thread([this] {
      // Handlers never throw (they only touch our state); guard anyway so a surprise does
      // not terminate the process from a background thread.
      for (;;) {
        try {
          ioc_.run();
          break;
        } catch (...) {
        }
      }
    });
  }

  ~ws_client_impl() override {
    if (is_open()) close(1000);
    asio::post(ioc_, [this] {
      error_code ignored;
      resolver_.cancel();
      beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(ws_).close();
      work_.reset();
    });
    thread_.join();
  }

  // Runs resolve, connect and handshake on the I/O thread; blocks the caller until done.
  bool start(const url_parts& url, const connect_options& opts, connect_error* err) {
    asio::post(ioc_, [this, url, opts] { do_resolve(url, opts); });
    std::unique_lock lock(mu_);
    // The tcp_stream expiry bounds connect + handshake; this wait also bounds resolve.
    bool done = cv_.wait_for(lock, opts.timeout + std::chrono::milliseconds(500),
                             [this] { return connect_done_; });
    if (!done) {
      connect_done_ = true;  // a late outcome is ignored; the destructor cleans up
      connect_err_.http_status = 0;
      connect_err_.body = "timed out connecting";
    }
    if (done && connect_ok_) return true;
    if (err) *err = connect_err_;
    return false;
  }

  bool send_text(std::string text) override {
    if (!open_.load()) return false;
    asio::post(ioc_, [this, text = std::move(text)]() mutable {
      if (!open_.load() || close_sent_) return;
      write_queue_.push_back(std::move(text));
      if (write_queue_.size() == 1) do_write();
    });
    return true;
  }

  std::optional<std::string> recv(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [this] { return !frames_.empty() || closed_; });
    if (frames_.empty()) return std::nullopt;
    std::string s = std::move(frames_.front());
    frames_.pop_front();
    return s;
  }

  std::optional<int> wait_closed(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [this] { return closed_; })) return std::nullopt;
    return close_code_;
  }

  bool is_open() const override { return open_.load(); }

  void close(int code) override {
    if (!open_.load()) return;
    asio::post(ioc_, [this, code] {
      if (!open_.load() || close_sent_) return;
      close_sent_ = true;
      write_queue_.clear();  // frames not yet started are dropped; the one in flight ends
      // Beast serialises the close frame after a write in flight and, with no read
      // pending (paused), reads until the server's close frame itself.
      ws_.async_close(websocket::close_reason(static_cast<std::uint16_t>(code)),
                      [this](error_code ec) { finish(ec); });
    });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, k_close_grace, [this] { return closed_; });
  }

  void pause_reading(bool paused) override {
    asio::post(ioc_, [this, paused] {
      paused_ = paused;
      if (!paused_ && !reading_ && open_.load() && !close_sent_) do_read();
    });
  }

 private:
  void do_resolve(const url_parts& url, const connect_options& opts) {
    host_header_ = url.host.find(':') != std::string::npos ? "[" + url.host + "]:" + url.port
                                                           : url.host + ":" + url.port;
    target_ = url.target;
    bearer_ = opts.bearer;
    timeout_ = opts.timeout;
    local_address_ = opts.local_address;
    resolver_.async_resolve(url.host, url.port,
                            [this](error_code ec, tcp::resolver::results_type results) {
                              if (ec) return connect_failed(0, "resolve: " + ec.message());
                              do_connect(results);
                            });
  }

  void do_connect(const tcp::resolver::results_type& results) {
    auto& stream = beast::get_lowest_layer(ws_);
    stream.expires_after(timeout_);
    if (local_address_.empty()) {
      stream.async_connect(results,
                           [this](error_code ec, const tcp::endpoint&) { on_connect(ec); });
      return;
    }
    error_code ec;
    auto local = asio::ip::make_address(local_address_, ec);
    if (ec) return connect_failed(0, "bad local address " + local_address_);
    // The range connect reopens the socket per endpoint (dropping our bind), so bind once
    // and connect to the first endpoint of the same family.
    for (const auto& entry : results) {
      tcp::endpoint remote = entry.endpoint();
      if (remote.address().is_v4() != local.is_v4()) continue;
      stream.socket().open(remote.protocol(), ec);
      if (!ec) stream.socket().bind(tcp::endpoint(local, 0), ec);
      if (ec) return connect_failed(0, "bind " + local_address_ + ": " + ec.message());
      stream.async_connect(remote, [this](error_code ec) { on_connect(ec); });
      return;
    }
    connect_failed(0, "no address of the local address's family");
  }

  void on_connect(error_code ec) {
    if (ec) return connect_failed(0, "connect: " + ec.message());
    error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    ws_.set_option(
        websocket::stream_base::decorator([bearer = bearer_](websocket::request_type& req) {
          req.set(http::field::user_agent, "parley-client");
          if (bearer) req.set(http::field::authorization, "Bearer " + *bearer);
        }));
    ws_.read_message_max(k_read_message_max);
    ws_.async_handshake(handshake_res_, host_header_, target_, [this](error_code ec) {
      if (ec == websocket::error::upgrade_declined) {
        return connect_failed(static_cast<int>(handshake_res_.result_int()), handshake_res_.body());
      }
      if (ec) return connect_failed(0, "handshake: " + ec.message());
      beast::get_lowest_layer(ws_).expires_never();
      handshake_res_ = {};
      open_.store(true);
      {
        std::lock_guard lock(mu_);
        connect_done_ = true;
        connect_ok_ = true;
      }
      cv_.notify_all();
      do_read();
    });
  }

  void connect_failed(int status, std::string body) {
    {
      std::lock_guard lock(mu_);
      if (connect_done_) return;
      connect_done_ = true;
      connect_err_.http_status = status;
      connect_err_.body = std::move(body);
      closed_ = true;
    }
    cv_.notify_all();
  }

  void do_read() {
    reading_ = true;
    ws_.async_read(read_buf_, [this](error_code ec, std::size_t) {
      reading_ = false;
      if (ec) return finish(ec);
      if (ws_.got_text()) {
        {
          std::lock_guard lock(mu_);
          frames_.push_back(beast::buffers_to_string(read_buf_.data()));
        }
        cv_.notify_all();
      }
      read_buf_.consume(read_buf_.size());
      // After our close frame, async_close reads (and discards) until the server's.
      if (!paused_ && !close_sent_) do_read();
    });
  }

  void do_write() {
    ws_.text(true);
    ws_.async_write(asio::buffer(write_queue_.front()), [this](error_code ec, std::size_t) {
      if (ec) {
        write_queue_.clear();
        return;  // the read side (or close) reports the failure
      }
      if (!write_queue_.empty()) write_queue_.pop_front();
      if (!write_queue_.empty() && !close_sent_) do_write();
    });
  }

  // The connection is over: records the close code (the server's close frame, else 1006)
  // and wakes every waiter. Runs once; later calls are ignored.
  void finish(error_code ec) {
    if (finished_) return;
    finished_ = true;
    open_.store(false);
    int code = k_abnormal_closure;
    const auto& reason = ws_.reason();
    if (reason.code != websocket::close_code::none) code = static_cast<int>(reason.code);
    {
      std::lock_guard lock(mu_);
      closed_ = true;
      close_code_ = code;
    }
    cv_.notify_all();
  }

  // Declaration order matters: ioc_ outlives everything that uses it.
  asio::io_context ioc_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::resolver resolver_;
  websocket::stream<beast::tcp_stream> ws_;
  std::thread thread_;

  // I/O thread only.
  std::string host_header_;
  std::string target_;
  std::optional<std::string> bearer_;
  std::chrono::milliseconds timeout_{5000};
  std::string local_address_;
  websocket::response_type handshake_res_;
  beast::flat_buffer read_buf_;
  std::deque<std::string> write_queue_;
  bool reading_ = false;
  bool paused_ = false;
  bool close_sent_ = false;
  bool finished_ = false;

  std::atomic<bool> open_{false};

  // Shared, under mu_.
  std::mutex mu_;
  std::condition_variable cv_;
  bool connect_done_ = false;
  bool connect_ok_ = false;
  connect_error connect_err_;
  std::deque<std::string> frames_;
  bool closed_ = false;
  int close_code_ = k_abnormal_closure;
};

}  // namespace

std::unique_ptr<ws_client> ws_client::connect(const std::string& url, const connect_options& opts,
                                              connect_error* err) {
  auto parts = parse_url(url);
  if (!parts) {
    if (err) *err = connect_error{0, "malformed url: " + url};
    return nullptr;
  }
  try {
    auto client = std::make_unique<ws_client_impl>();
    if (!client->start(*parts, opts, err)) return nullptr;
    return client;
  } catch (const std::exception& e) {  // thread creation or allocation failure
    if (err) *err = connect_error{0, e.what()};
    return nullptr;
  }
}

}  // namespace parley::client
