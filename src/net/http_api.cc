#include "net/http_api.h"

#include <boost/json.hpp>
#include <fstream>
#include <sstream>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/ids.h"
#include "base/metrics.h"
#include "chat/frames.h"
#include "chat/service.h"
#include "net/errors.h"

namespace parley::net {

namespace json = boost::json;

http_reply error_reply(int status, std::string_view code, std::string_view message) {
  json::object o;
  o["error"] = code;
  o["message"] = message;
  global_metrics().errors.inc(std::string(code));
  http_reply r{status, json::serialize(o), "application/json", {}};
  // Busy, down or draining: worth trying again (elsewhere, or here in a moment).
  if (status == 503) r.headers.emplace_back("Retry-After", "1");
  return r;
}

namespace {

http_reply from_error(std::error_code ec) {
  auto w = to_wire(ec, context::api);
  std::string msg = ec.message();
  if (w.code == "not_found") msg = "no such room";  // never reveal whether it exists
  return error_reply(w.http_status, w.code, msg);
}

http_reply json_reply(int status, const json::value& v) {
  return {status, json::serialize(v), "application/json", {}};
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string cur;
  for (char c : path.substr(path.empty() ? 0 : 1)) {
    if (c == '/') {
      parts.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  parts.push_back(cur);
  return parts;
}

json::object room_json(const store::room& r) {
  json::object o;
  o["id"] = r.id;
  o["kind"] = r.kind == store::room_kind::direct ? "direct" : "group";
  o["name"] = r.name;
  json::array ms;
  for (const auto& m : r.members) ms.emplace_back(m);
  o["members"] = std::move(ms);
  o["created_by"] = r.created_by;
  o["created_at"] = r.created_at;
  o["last_seq"] = r.last_seq;
  return o;
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
  if (!safe) return error_reply(404, "not_found", "no such page");
  std::ifstream f(opts.web_root + "/" + name, std::ios::binary);
  if (!f) return error_reply(404, "not_found", "no such page");
  std::ostringstream ss;
  ss << f.rdbuf();
  return {200, ss.str(), content_type_of(name), {}};
}

// Runs `work` (returning an http_reply; may block on the store) on the service's store pool
// and answers its reply; a full pool is answered at once with 503 `unavailable`.
template <class Work>
void on_store_pool(chat::service& svc, const reply_fn& done, Work work) {
  svc.blocking(
      [work = std::move(work)]() -> result<http_reply> { return work(); },
      [done](result<http_reply> r) { done(r ? std::move(r).value() : from_error(r.error())); });
}

json::array rooms_json(const std::vector<store::room_summary>& rooms) {
  json::array arr;
  for (const auto& s : rooms) {
    json::object o;
    o["id"] = s.id;
    o["kind"] = s.kind == store::room_kind::direct ? "direct" : "group";
    o["name"] = s.name;
    o["last_seq"] = s.last_seq;
    o["read_seq"] = s.read_seq;
    arr.emplace_back(std::move(o));
  }
  return arr;
}

// POST /api/rooms/{id}/messages: asynchronous like a WebSocket send (service::send never
// blocks; the store's writer answers), so no thread waits for the answer.
void post_message(chat::service& svc, const http_request_info& req, const std::string& me,
                  const std::string& room, const reply_fn& done) {
  auto body = parse_body(req.body);
  if (!body) return done(error_reply(400, "bad_request", "body must be a JSON object"));
  auto text = str_field(*body, "text");
  if (!text) return done(error_reply(400, "bad_request", "missing field 'text'"));
  if (!ids::valid_text(*text))
    return done(error_reply(400, "bad_request", "text must not contain U+0000"));
  std::optional<std::string> cid;
  if (auto it = body->find("cid"); it != body->end() && !it->value().is_null()) {
    if (!it->value().is_string() || !ids::valid_cid(it->value().get_string()))
      return done(
          error_reply(400, "bad_request", "cid must be a string of 1 to 64 bytes, without U+0000"));
    cid = std::string(it->value().get_string());
  }
  svc.send(chat::send_request{me, room, std::move(*text), cid, ""},
           [done](result<store::append_result> r) {
             if (!r) return done(from_error(r.error()));
             done(json_reply(201, json::parse(chat::ack_frame(r.value().msg, std::nullopt))));
           });
}

void api(chat::service& svc, const http_options& opts, const http_request_info& req,
         const std::vector<std::string>& p, const reply_fn& done) {
  // /api/dev/token exists only in dev mode, and is answered before any authentication.
  if (p.size() == 3 && p[1] == "dev" && p[2] == "token") {
    if (!opts.dev) return done(error_reply(404, "not_found", "no such route"));
    if (req.method != "POST") return done(error_reply(405, "bad_request", "use POST"));
    auto body = parse_body(req.body);
    auto user = body ? str_field(*body, "user") : std::nullopt;
    if (!user || !ids::valid_user(*user))
      return done(error_reply(400, "bad_request", "body must be {\"user\": a valid user id}"));
    auto exp = now_ms() / 1000 + 3600;
    json::object o;
    o["token"] = auth::mint_hs256(opts.dev_secret, *user, exp);
    o["user"] = *user;
    o["exp"] = exp * 1000;
    return done(json_reply(200, o));
  }
  if (!req.bearer)
    return done(error_reply(401, "unauthorized", "missing Authorization: Bearer token"));
  auto claims = svc.verifier().verify(*req.bearer, now_ms());
  if (!claims) return done(error_reply(401, "unauthorized", claims.error().message()));
  std::string me = claims.value().sub;
  auto* s = &svc;

  if (p.size() >= 2 && p[1] == "rooms") {
    if (p.size() == 2) {
      if (req.method == "GET") {
        return on_store_pool(svc, done, [s, me] {
          auto r = s->list_rooms(me);
          if (!r) return from_error(r.error());
          return json_reply(200, rooms_json(r.value()));
        });
      }
      if (req.method == "POST") {
        auto body = parse_body(req.body);
        if (!body) return done(error_reply(400, "bad_request", "body must be a JSON object"));
        auto name = str_field(*body, "name");
        if (!name || name->empty() || name->size() > 200 || !ids::valid_text(*name))
          return done(error_reply(400, "bad_request",
                                  "name must be a string of 1 to 200 bytes, without U+0000"));
        std::vector<std::string> members;
        if (auto it = body->find("members"); it != body->end()) {
          if (!it->value().is_array())
            return done(error_reply(400, "bad_request", "members must be an array of user ids"));
          for (const auto& m : it->value().get_array()) {
            if (!m.is_string() || !ids::valid_user(m.get_string()))
              return done(error_reply(400, "bad_request", "members must be an array of user ids"));
            members.emplace_back(m.get_string());
          }
        }
        return on_store_pool(svc, done, [s, me, name = std::move(*name), members] {
          auto r = s->create_room(me, name, members);
          if (!r) return from_error(r.error());
          return json_reply(201, room_json(r.value()));
        });
      }
      return done(error_reply(405, "bad_request", "method not allowed"));
    }
    const auto& room = p[2];
    if (!ids::valid_room(room)) return done(error_reply(400, "bad_request", "invalid room id"));
    if (p.size() == 3) {
      if (req.method != "GET") return done(error_reply(405, "bad_request", "method not allowed"));
      return on_store_pool(svc, done, [s, me, room] {
        auto r = s->get_room(me, room);
        if (!r) return from_error(r.error());
        return json_reply(200, room_json(r.value()));
      });
    }
    if (p[3] == "members") {
      if (p.size() == 4 && req.method == "POST") {
        auto body = parse_body(req.body);
        auto user = body ? str_field(*body, "user") : std::nullopt;
        if (!user || !ids::valid_user(*user))
          return done(error_reply(400, "bad_request", "body must be {\"user\": a valid user id}"));
        return on_store_pool(svc, done, [s, me, room, user = std::move(*user)] {
          auto r = s->add_member(me, room, user);
          if (!r) return from_error(r.error());
          return json_reply(200, room_json(r.value()));
        });
      }
      if (p.size() == 5 && req.method == "DELETE") {
        if (!ids::valid_user(p[4])) return done(error_reply(400, "bad_request", "invalid user id"));
        return on_store_pool(svc, done, [s, me, room, user = p[4]] {
          auto r = s->remove_member(me, room, user);
          if (!r) return from_error(r.error());
          return json_reply(200, room_json(r.value()));
        });
      }
      return done(error_reply(405, "bad_request", "method not allowed"));
    }
    if (p[3] == "messages" && p.size() == 4) {
      if (req.method == "GET") {
        std::optional<std::int64_t> before, after, limit;
        if (!query_int(req, "before", before) || !query_int(req, "after", after) ||
            !query_int(req, "limit", limit))
          return done(
              error_reply(400, "bad_request", "before, after and limit must be integers >= 0"));
        if (before && after)
          return done(error_reply(400, "bad_request", "give before or after, not both"));
        int lim = limit ? static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 200)) : 50;
        return on_store_pool(svc, done, [s, me, room, before, after, lim] {
          auto r = s->messages(me, room, before, after, lim);
          if (!r) return from_error(r.error());
          json::object o;
          o["messages"] = json::parse(chat::messages_json(r.value().messages));
          o["more"] = r.value().more;
          return json_reply(200, o);
        });
      }
      if (req.method == "POST") return post_message(svc, req, me, room, done);
      return done(error_reply(405, "bad_request", "method not allowed"));
    }
  }
  return done(error_reply(404, "not_found", "no such route"));
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
  if (req.path.rfind("/api/", 0) == 0) return api(svc, opts, req, split_path(req.path), done);
  if (req.method != "GET" && req.method != "HEAD")
    return done(error_reply(404, "not_found", "no such route"));
  done(static_file(opts, req.path));
}

}  // namespace parley::net
