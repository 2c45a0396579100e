// HTTP sessions: read a request, answer it (asynchronously when it touches the store),
// keep-alive; authenticate and hand /ws upgrades to a WebSocket session.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url.hpp>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/ids.h"
#include "bus/bus.h"
#include "chat/service.h"
#include "net/errors.h"
#include "net/http_api.h"
#include "net/sessions.h"
#include "net/websocket.h"
#include "net/ws_codec.h"

namespace parley::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace urls = boost::urls;

namespace {

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
    parser_->header_limit(16 * 1024);
    parser_->body_limit(1024 * 1024);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

  void on_read(beast::error_code ec) {
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      keep_alive_ = false;
      return reply(error_reply(413, "too_large", "request body over 1 MiB"));
    }
    if (ec) return do_close();
    auto req = parser_->release();
    keep_alive_ = req.keep_alive();
    head_ = req.method() == http::verb::head;

    http_request_info info;
    info.method = std::string(req.method_string());
    auto target = urls::parse_origin_form(req.target());
    if (!target) return reply(error_reply(400, "bad_request", "malformed request target"));
    for (auto seg : target->segments()) info.path += "/" + seg;  // decoded
    if (info.path.empty()) info.path = "/";
    for (auto param : target->params()) info.query[param.key] = param.value;
    auto authz = req[http::field::authorization];
    if (authz.size() > 7 && beast::iequals(authz.substr(0, 7), "Bearer "))
      info.bearer = std::string(authz.substr(7));

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

  void upgrade(http::request<http::string_body> req, http_request_info info) {
    if (!beast::websocket::is_upgrade(req))
      return reply(error_reply(400, "bad_request", "expected a WebSocket upgrade"));
    if (req[http::field::host].empty())
      return reply(error_reply(400, "bad_request", "missing Host header"));
    if (req[http::field::sec_websocket_version].empty())
      return reply(error_reply(400, "bad_request", "missing Sec-WebSocket-Version"));
    if (req[http::field::sec_websocket_version] != "13") {
      auto r = error_reply(426, "bad_request", "WebSocket version 13 required");
      r.headers.emplace_back("Sec-WebSocket-Version", "13");
      return reply(std::move(r));
    }
    if (!ws::valid_client_key(req[http::field::sec_websocket_key]))
      return reply(error_reply(400, "bad_request", "missing or invalid Sec-WebSocket-Key"));
    if (state_->draining) return reply(error_reply(503, "unavailable", "server shutting down"));
    // The token: header first, else the query parameter (browsers cannot set headers).
    std::optional<std::string> token = info.bearer;
    if (!token)
      if (auto it = info.query.find("token"); it != info.query.end()) token = it->second;
    if (!token) return reply(error_reply(401, "unauthorized", "missing token"));
    auto claims = state_->svc->verifier().verify(*token, now_ms());
    if (!claims) return reply(error_reply(401, "unauthorized", claims.error().message()));
    std::string user = claims.value().sub;

    std::optional<std::string> room;
    auto rcv = info.query.find("receiverId");
    auto rm = info.query.find("room");
    if (rcv != info.query.end() && rm != info.query.end())
      return reply(error_reply(400, "bad_request", "give receiverId or room, not both"));
    if (rcv != info.query.end()) {
      if (!ids::valid_user(rcv->second))
        return reply(error_reply(400, "bad_request", "invalid receiverId"));
      room = ids::direct_room(user, rcv->second);
    } else if (rm != info.query.end()) {
      if (!ids::valid_room(rm->second))
        return reply(error_reply(400, "bad_request", "invalid room id"));
      room = rm->second;
    }
    auto exp = claims.value().exp_ms;
    if (!room) return accept(std::move(req), std::move(user), exp, std::nullopt);
    auto r = *room;
    state_->svc->check_member(
        r, user,
        [self = shared_from_this(), req = std::move(req), user, exp,
         room = std::move(room)](result<void> m) mutable {
          asio::post(self->stream_.get_executor(), [self, req = std::move(req), user, exp,
                                                    room = std::move(room), m]() mutable {
            if (!m) {
              auto w = to_wire(m.error(), context::upgrade);
              return self->reply(error_reply(
                  w.http_status, w.code,
                  w.http_status == 403 ? "not a member of this room" : m.error().message()));
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
    stream_.expires_after(std::chrono::seconds(30));
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
