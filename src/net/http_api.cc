#include "net/http_api.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "chat/frames.h"
#include "chat/service.h"
#include "net/http_target.h"

namespace parley::net {

namespace json = boost::json;

http_reply error_reply(std::error_code ec, std::string_view message, context where) {
  auto w = to_wire(ec, where);
  json::object o;
  o["error"] = w.code;
  o["message"] = message;
  global_metrics().errors.inc(std::string(w.code));
  http_reply r{w.http_status, json::serialize(o), "application/json", {}};
  // Busy, down or draining: worth trying again (elsewhere, or here in a moment).
  if (w.http_status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

namespace {

using chat::errc;

http_reply from_error(std::error_code ec) {
  // Never reveal whether a room one may not see exists.
  bool hidden = to_wire(ec, context::api).code == "not_found";
  return error_reply(ec, hidden ? "no such room" : ec.message());
}

http_reply json_reply(int status, const json::value& v) {
  return {status, json::serialize(v), "application/json", {}};
}

const char* kind_name(chat::room_kind k) {
  return k == chat::room_kind::direct ? "direct" : "group";
}

json::object room_json(const chat::room& r) {
  json::object o;
  o["id"] = r.id;
  o["kind"] = kind_name(r.kind);
  o["name"] = r.name;
  json::array ms;
  for (const auto& m : r.members) ms.emplace_back(m);
  o["members"] = std::move(ms);
  o["created_by"] = r.created_by;
  o["created_at"] = r.created_at;
  o["last_seq"] = r.last_seq;
  return o;
}

json::array rooms_json(const std::vector<chat::room_summary>& rooms) {
  json::array arr;
  for (const auto& s : rooms) {
    json::object o;
    o["id"] = s.id;
    o["kind"] = kind_name(s.kind);
    o["name"] = s.name;
    o["last_seq"] = s.last_seq;
    o["read_seq"] = s.read_seq;
    arr.emplace_back(std::move(o));
  }
  return arr;
}

std::optional<json::object> parse_body(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return std::move(v.get_object());
}

std::optional<std::string> str_field(const json::object& o, const char* k) {
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().get_string());
}

// The body's "user" field, when it is a valid user id.
std::optional<std::string> body_user(const std::string& body) {
  auto o = parse_body(body);
  auto user = o ? str_field(*o, "user") : std::nullopt;
  if (!user || !ids::valid_user(*user)) return std::nullopt;
  return user;
}

// Parses an optional non-negative integer query parameter; false on a malformed value.
bool query_int(const http_request_info& req, const char* k, std::optional<std::int64_t>& out) {
  auto it = req.query.find(k);
  if (it == req.query.end() || it->second.empty()) return true;
  try {
    std::size_t used = 0;
    long long v = std::stoll(it->second, &used);
    if (used != it->second.size() || v < 0) return false;
    out = v;
    return true;
  } catch (...) {
    return false;
  }
}

std::string content_type_of(const std::string& name) {
  auto dot = name.rfind('.');
  std::string ext = dot == std::string::npos ? "" : name.substr(dot + 1);
  if (ext == "html") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "text/javascript; charset=utf-8";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  if (ext == "json") return "application/json";
  return "application/octet-stream";
}

http_reply static_file(const http_options& opts, const std::string& path) {
  std::string name = path == "/" ? "index.html" : path.substr(1);
  bool safe = !name.empty() && name.size() < 128 && name.find("..") == std::string::npos;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
      safe = false;
  if (!safe) return error_reply(errc::not_found, "no such page");
  std::ifstream f(opts.web_root + "/" + name, std::ios::binary);
  if (!f) return error_reply(errc::not_found, "no such page");
  std::ostringstream ss;
  ss << f.rdbuf();
  return {200, ss.str(), content_type_of(name), {}};
}

// ---- the /api routes ----

// One API call: the request, the caller (from the token) and the path's parameters.
struct call {
  chat::service& svc;
  const http_options& opts;
  const http_request_info& req;
  const reply_fn& done;
  std::string me;
  std::optional<std::string> room;  // {room}, checked to be a valid room id
  std::string user;                 // {user}, as given: the handler checks it
};

// Runs `work` (the service's BLOCKING call, returning result<T>) on the store pool and
// answers `status` with `to_json(value)`, or the error; a full pool is 503 at once.
template <class Work, class ToJson>
void on_store_pool(const call& c, int status, Work work, ToJson to_json) {
  c.svc.blocking(std::move(work), [done = c.done, status, to_json](auto r) {
    done(r ? json_reply(status, to_json(r.value())) : from_error(r.error()));
  });
}

void dev_token(call& c) {
  auto user = body_user(c.req.body);
  if (!user)
    return c.done(error_reply(errc::bad_request, "body must be {\"user\": a valid user id}"));
  auto exp = now_ms() / 1000 + 3600;
  json::object o;
  o["token"] = auth::mint_hs256(c.opts.dev_secret, *user, exp);
  o["user"] = *user;
  o["exp"] = exp * 1000;
  c.done(json_reply(200, o));
}

void list_rooms(call& c) {
  on_store_pool(
      c, 200, [s = &c.svc, me = c.me] { return s->list_rooms(me); }, rooms_json);
}

void create_room(call& c) {
  auto body = parse_body(c.req.body);
  if (!body) return c.done(error_reply(errc::bad_request, "body must be a JSON object"));
  auto name = str_field(*body, "name");
  if (!name || name->empty() || name->size() > 200 || !ids::valid_text(*name))
    return c.done(
        error_reply(errc::bad_request, "name must be a string of 1 to 200 bytes, without U+0000"));
  std::vector<std::string> members;
  if (auto it = body->find("members"); it != body->end()) {
    const char* bad = "members must be an array of user ids";
    if (!it->value().is_array()) return c.done(error_reply(errc::bad_request, bad));
    for (const auto& m : it->value().get_array()) {
      if (!m.is_string() || !ids::valid_user(m.get_string()))
        return c.done(error_reply(errc::bad_request, bad));
      members.emplace_back(m.get_string());
    }
  }
  on_store_pool(
      c, 201,
      [s = &c.svc, me = c.me, name = std::move(*name), members = std::move(members)] {
        return s->create_room(me, name, members);
      },
      room_json);
}

void get_room(call& c) {
  on_store_pool(
      c, 200, [s = &c.svc, me = c.me, room = *c.room] { return s->get_room(me, room); }, room_json);
}

void add_member(call& c) {
  auto user = body_user(c.req.body);
  if (!user)
    return c.done(error_reply(errc::bad_request, "body must be {\"user\": a valid user id}"));
  on_store_pool(
      c, 200,
      [s = &c.svc, me = c.me, room = *c.room, user = std::move(*user)] {
        return s->add_member(me, room, user);
      },
      room_json);
}

void remove_member(call& c) {
  if (!ids::valid_user(c.user)) return c.done(error_reply(errc::bad_request, "invalid user id"));
  on_store_pool(
      c, 200,
      [s = &c.svc, me = c.me, room = *c.room, user = c.user] {
        return s->remove_member(me, room, user);
      },
      room_json);
}

void list_messages(call& c) {
  std::optional<std::int64_t> before, after, limit;
  if (!query_int(c.req, "before", before) || !query_int(c.req, "after", after) ||
      !query_int(c.req, "limit", limit))
    return c.done(error_reply(errc::bad_request, "before, after and limit must be integers >= 0"));
  if (before && after)
    return c.done(error_reply(errc::bad_request, "give before or after, not both"));
  int lim = limit ? static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 200)) : 50;
  on_store_pool(
      c, 200,
      [s = &c.svc, me = c.me, room = *c.room, before, after, lim] {
        return s->messages(me, room, before, after, lim);
      },
      [](const chat::page& p) {
        json::object o;
        o["messages"] = json::parse(chat::messages_json(p.messages));
        o["more"] = p.more;
        return o;
      });
}

// POST /api/rooms/{room}/messages: asynchronous like a WebSocket send (service::send never
// blocks; the store's writer answers), so no thread waits for the answer.
void post_message(call& c) {
  auto body = parse_body(c.req.body);
  if (!body) return c.done(error_reply(errc::bad_request, "body must be a JSON object"));
  auto text = str_field(*body, "text");
  if (!text) return c.done(error_reply(errc::bad_request, "missing field 'text'"));
  if (!ids::valid_text(*text))
    return c.done(error_reply(errc::bad_request, "text must not contain U+0000"));
  std::optional<std::string> cid;
  if (auto it = body->find("cid"); it != body->end() && !it->value().is_null()) {
    if (!it->value().is_string() || !ids::valid_cid(it->value().get_string()))
      return c.done(
          error_reply(errc::bad_request, "cid must be a string of 1 to 64 bytes, without U+0000"));
    cid = std::string(it->value().get_string());
  }
  c.svc.send(chat::send_request{c.me, *c.room, std::move(*text), cid, ""},
             [done = c.done](result<chat::sent> r) {
               if (!r) return done(from_error(r.error()));
               done(json_reply(201, json::parse(chat::ack_frame(r.value().msg, std::nullopt))));
             });
}

struct route {
  std::string_view method;
  std::string_view path;  // segments after /api; {room} and {user} match one segment
  void (*handle)(call&);
};

// Every /api route. A path that matches a route with another method is 405; no match, 404.
// /api/dev/token (dev mode only) is the one route answered without a token.
constexpr std::array k_routes{
    route{"POST", "/api/dev/token", dev_token},
    route{"GET", "/api/rooms", list_rooms},
    route{"POST", "/api/rooms", create_room},
    route{"GET", "/api/rooms/{room}", get_room},
    route{"POST", "/api/rooms/{room}/members", add_member},
    route{"DELETE", "/api/rooms/{room}/members/{user}", remove_member},
    route{"GET", "/api/rooms/{room}/messages", list_messages},
    route{"POST", "/api/rooms/{room}/messages", post_message},
};

// Whether `parts` (the request path's segments) has the shape of `pattern`; if so, sets
// the parameters of `c`.
bool matches(std::string_view pattern, const std::vector<std::string>& parts, call& c) {
  auto want = split_path(pattern);
  if (want.size() != parts.size()) return false;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (want[i] != parts[i] && want[i] != "{room}" && want[i] != "{user}") return false;
  c.room.reset();
  for (std::size_t i = 0; i < want.size(); ++i) {
    if (want[i] == "{room}") c.room = parts[i];
    if (want[i] == "{user}") c.user = parts[i];
  }
  return true;
}

void api(chat::service& svc, const http_options& opts, const http_request_info& req,
         const reply_fn& done) {
  auto parts = split_path(req.path);
  call c{svc, opts, req, done, {}, std::nullopt, {}};
  bool dev_route = matches(k_routes[0].path, parts, c);
  if (dev_route) {
    if (!opts.dev) return done(error_reply(errc::not_found, "no such route"));
    if (req.method != "POST") return done(error_reply(net::errc::method_not_allowed, "use POST"));
    return dev_token(c);
  }
  if (!req.bearer)
    return done(error_reply(errc::unauthorized, "missing Authorization: Bearer token"));
  auto claims = svc.verifier().verify(*req.bearer, now_ms());
  if (!claims) return done(error_reply(claims.error(), claims.error().message()));
  c.me = claims.value().sub;
  bool shape = false;
  for (const auto& r : k_routes) {
    if (!matches(r.path, parts, c)) continue;
    if (!shape && c.room && !ids::valid_room(*c.room))
      return done(error_reply(errc::bad_request, "invalid room id"));
    shape = true;
    if (r.method == req.method) return r.handle(c);
  }
  if (shape) return done(error_reply(net::errc::method_not_allowed, "method not allowed"));
  done(error_reply(errc::not_found, "no such route"));
}

}  // namespace

void handle_http(chat::service& svc, const http_options& opts, const http_request_info& req,
                 reply_fn done) {
  global_metrics().http_requests.fetch_add(1, std::memory_order_relaxed);
  if (req.path == "/healthz") return done(json_reply(200, json::object{{"status", "ok"}}));
  if (req.path == "/readyz") {
    // The store's own health thread and connection: never behind clients' store work.
    return svc.probe_store([done = std::move(done), bus = opts.bus_state](bool ok) {
      json::object o;
      o["status"] = ok ? "ready" : "not_ready";
      o["store"] = ok ? "up" : "down";
      o["bus"] = bus;
      // Cluster mode: Kafka's state, for operators (a Kafka outage does not make this 503).
      if (bus != "local") o["kafka"] = bus;
      done(json_reply(ok ? 200 : 503, o));
    });
  }
  if (req.path == "/metrics")
    return done({200, global_metrics().render(), "text/plain; version=0.0.4", {}});
  if (req.path.rfind("/api/", 0) == 0) return api(svc, opts, req, done);
  if (req.method != "GET" && req.method != "HEAD")
    return done(error_reply(chat::errc::not_found, "no such route"));
  done(static_file(opts, req.path));
}

}  // namespace parley::net
