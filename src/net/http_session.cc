#include "net/http_session.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/ids.h"
#include "chat/service.h"
#include "net/errors.h"
#include "net/http_api.h"
#include "net/http_target.h"
#include "net/shared_state.h"
#include "net/websocket_session.h"
#include "ws/codec.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr std::size_t k_header_limit = 16 * 1024;
constexpr std::size_t k_body_limit = 1024 * 1024;
constexpr auto k_read_timeout = std::chrono::seconds(60);
constexpr auto k_write_timeout = std::chrono::seconds(30);

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(std::shared_ptr<shared_state> state, asio::ip::tcp::socket&& socket)
      : state_(std::move(state)), stream_(std::move(socket)) {}

  void run() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
  }

 private:
  void do_read() {
    parser_.emplace();
    parser_->header_limit(k_header_limit);
    parser_->body_limit(k_body_limit);
    stream_.expires_after(k_read_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return reply(error_reply(chat::errc::too_large, "request body over 1 MiB"));
    }
    if (ec) return do_close();
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;

    auto target = parse_target(req.target());
    if (!target) return reply(error_reply(chat::errc::bad_request, "malformed request target"));
    http_request_info info;
    info.method = std::string(req.method_string());
    info.path = std::move(target->path);
    info.query = std::move(target->query);
    info.bearer = bearer_token(req[http::field::authorization]);

    if (info.path == "/ws") return upgrade(std::move(req), std::move(info));
    info.body = std::move(req.body());
    http_options opts{state_->opts.dev, state_->opts.dev_secret, state_->opts.web_root,
                      state_->bus_state()};
    // Answered from whichever thread finishes (at once, the store pool, the store's writer,
    // the health thread): back to this session's strand to write.
    handle_http(*state_->svc, opts, info, [self = shared_from_this()](http_reply r) {
      asio::post(self->stream_.get_executor(),
                 [self, r = std::move(r)]() mutable { self->reply(std::move(r)); });
    });
  }

  // Refuses an upgrade: the answer of `ec` in the upgrade context.
  void refuse(std::error_code ec, std::string_view message) {
    reply(error_reply(ec, message, context::upgrade));
  }

  void upgrade(http::request<http::string_body> req, http_request_info info) {
    const auto bad = chat::errc::bad_request;
    if (!beast::websocket::is_upgrade(req)) return refuse(bad, "expected a WebSocket upgrade");
    if (req[http::field::host].empty()) return refuse(bad, "missing Host header");
    auto version = req[http::field::sec_websocket_version];
    if (version.empty()) return refuse(bad, "missing Sec-WebSocket-Version");
    if (version != "13") {
      auto r =
          error_reply(errc::version_required, "WebSocket version 13 required", context::upgrade);
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
      return reply(std::move(r));
    }
    if (!ws::valid_client_key(req[http::field::sec_websocket_key]))
      return refuse(bad, "missing or invalid Sec-WebSocket-Key");
    if (state_->draining) return refuse(errc::shutting_down, "server shutting down");
    // The token: header first, else the query parameter (browsers cannot set headers).
    std::optional<std::string> token = info.bearer;
    if (!token)
      if (auto it = info.query.find("token"); it != info.query.end()) token = it->second;
    if (!token) return refuse(chat::errc::unauthorized, "missing token");
    auto claims = state_->svc->verifier().verify(*token, now_ms());
    if (!claims) return refuse(claims.error(), claims.error().message());
    std::string user = claims.value().sub;

    std::optional<std::string> room;
    auto rcv = info.query.find("receiverId");
    auto rm = info.query.find("room");
    if (rcv != info.query.end() && rm != info.query.end())
      return refuse(bad, "give receiverId or room, not both");
    if (rcv != info.query.end()) {
      if (!ids::valid_user(rcv->second)) return refuse(bad, "invalid receiverId");
      room = ids::direct_room(user, rcv->second);
    } else if (rm != info.query.end()) {
      if (!ids::valid_room(rm->second)) return refuse(bad, "invalid room id");
      room = rm->second;
    }
    auto exp = claims.value().exp_ms;
    if (!room) return accept(std::move(req), std::move(user), exp, std::nullopt);
    auto r = *room;
    state_->svc->check_member(
        r, user,
        [self = shared_from_this(), req = std::move(req), user, exp,
         room = std::move(room)](result<void> m) mutable {
          asio::post(self->stream_.get_executor(),
                     [self, req = std::move(req), user, exp, room = std::move(room), m]() mutable {
                       if (!m) {
                         bool not_member = m.error() == chat::errc::not_member;
                         return self->refuse(m.error(), not_member ? "not a member of this room"
                                                                   : m.error().message());
                       }
                       self->accept(std::move(req), std::move(user), exp, std::move(room));
                     });
        });
  }

  void accept(http::request<http::string_body> req, std::string user, std::int64_t exp,
              std::optional<std::string> room) {
    stream_.expires_never();
    auto accept = ws::accept_key(req[http::field::sec_websocket_key]);
    start_websocket_session(state_, stream_.release_socket(), accept, std::move(user), exp,
                            std::move(room));
  }

  void reply(http_reply r) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "parleyd");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    for (const auto& [name, value] : r.headers) res->set(name, value);
    res->keep_alive(keep_alive_);
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (head_) res->body().clear();
    stream_.expires_after(k_write_timeout);
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
                        if (ec || !res->keep_alive()) return self->do_close();
                        self->do_read();
                      });
  }

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(asio::ip::tcp::socket::shutdown_send, ec);
  }

  std::shared_ptr<shared_state> state_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = true;
  bool head_ = false;
};

}  // namespace

void start_http_session(std::shared_ptr<shared_state> state, asio::ip::tcp::socket socket) {
  std::make_shared<http_session>(std::move(state), std::move(socket))->run();
}

}  // namespace parley::net
