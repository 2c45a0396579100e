#include "net/http_api.h"

#include <boost/json.hpp>
#include <fstream>
#include <future>
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
  return {status, json::serialize(o), "application/json", {}};
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

http_reply api(chat::service& svc, const http_options& opts, const http_request_info& req,
               const std::vector<std::string>& p) {
  // /api/dev/token exists only in dev mode, and is answered before any authentication.
  if (p.size() == 3 && p[1] == "dev" && p[2] == "token") {
    if (!opts.dev) return error_reply(404, "not_found", "no such route");
    if (req.method != "POST") return error_reply(405, "bad_request", "use POST");
    auto body = parse_body(req.body);
    auto user = body ? str_field(*body, "user") : std::nullopt;
    if (!user || !ids::valid_user(*user))
      return error_reply(400, "bad_request", "body must be {\"user\": a valid user id}");
    auto exp = now_ms() / 1000 + 3600;
    json::object o;
    o["token"] = auth::mint_hs256(opts.dev_secret, *user, exp);
    o["user"] = *user;
    o["exp"] = exp * 1000;
    return json_reply(200, o);
  }
  if (!req.bearer) return error_reply(401, "unauthorized", "missing Authorization: Bearer token");
  auto claims = svc.verifier().verify(*req.bearer, now_ms());
  if (!claims) return error_reply(401, "unauthorized", claims.error().message());
  const auto& me = claims.value().sub;

  if (p.size() >= 2 && p[1] == "rooms") {
    if (p.size() == 2) {
      if (req.method == "GET") {
        auto r = svc.list_rooms(me);
        if (!r) return from_error(r.error());
        json::array arr;
        for (const auto& s : r.value()) {
          json::object o;
          o["id"] = s.id;
          o["kind"] = s.kind == store::room_kind::direct ? "direct" : "group";
          o["name"] = s.name;
          o["last_seq"] = s.last_seq;
          o["read_seq"] = s.read_seq;
          arr.emplace_back(std::move(o));
        }
        return json_reply(200, arr);
      }
      if (req.method == "POST") {
        auto body = parse_body(req.body);
        if (!body) return error_reply(400, "bad_request", "body must be a JSON object");
        auto name = str_field(*body, "name");
        if (!name || name->empty() || name->size() > 200 || !ids::valid_text(*name))
          return error_reply(400, "bad_request",
                             "name must be a string of 1 to 200 bytes, without U+0000");
        std::vector<std::string> members;
        if (auto it = body->find("members"); it != body->end()) {
          if (!it->value().is_array())
            return error_reply(400, "bad_request", "members must be an array of user ids");
          for (const auto& m : it->value().get_array()) {
            if (!m.is_string() || !ids::valid_user(m.get_string()))
              return error_reply(400, "bad_request", "members must be an array of user ids");
            members.emplace_back(m.get_string());
          }
        }
        auto r = svc.create_room(me, *name, members);
        if (!r) return from_error(r.error());
        return json_reply(201, room_json(r.value()));
      }
      return error_reply(405, "bad_request", "method not allowed");
    }
    const auto& room = p[2];
    if (!ids::valid_room(room)) return error_reply(400, "bad_request", "invalid room id");
    if (p.size() == 3) {
      if (req.method != "GET") return error_reply(405, "bad_request", "method not allowed");
      auto r = svc.get_room(me, room);
      if (!r) return from_error(r.error());
      return json_reply(200, room_json(r.value()));
    }
    if (p[3] == "members") {
      if (p.size() == 4 && req.method == "POST") {
        auto body = parse_body(req.body);
        auto user = body ? str_field(*body, "user") : std::nullopt;
        if (!user || !ids::valid_user(*user))
          return error_reply(400, "bad_request", "body must be {\"user\": a valid user id}");
        auto r = svc.add_member(me, room, *user);
        if (!r) return from_error(r.error());
        return json_reply(200, room_json(r.value()));
      }
      if (p.size() == 5 && req.method == "DELETE") {
        if (!ids::valid_user(p[4])) return error_reply(400, "bad_request", "invalid user id");
        auto r = svc.remove_member(me, room, p[4]);
        if (!r) return from_error(r.error());
        return json_reply(200, room_json(r.value()));
      }
      return error_reply(405, "bad_request", "method not allowed");
    }
    if (p[3] == "messages" && p.size() == 4) {
      if (req.method == "GET") {
        std::optional<std::int64_t> before, after, limit;
        if (!query_int(req, "before", before) || !query_int(req, "after", after) ||
            !query_int(req, "limit", limit))
          return error_reply(400, "bad_request", "before, after and limit must be integers >= 0");
        if (before && after)
          return error_reply(400, "bad_request", "give before or after, not both");
        int lim = limit ? static_cast<int>(std::clamp<std::int64_t>(*limit, 1, 200)) : 50;
        auto r = svc.messages(me, room, before, after, lim);
        if (!r) return from_error(r.error());
        json::object o;
        o["messages"] = json::parse(chat::messages_json(r.value().messages));
        o["more"] = r.value().more;
        return json_reply(200, o);
      }
      if (req.method == "POST") {
        auto body = parse_body(req.body);
        if (!body) return error_reply(400, "bad_request", "body must be a JSON object");
        auto text = str_field(*body, "text");
        if (!text) return error_reply(400, "bad_request", "missing field 'text'");
        if (!ids::valid_text(*text))
          return error_reply(400, "bad_request", "text must not contain U+0000");
        std::optional<std::string> cid;
        if (auto it = body->find("cid"); it != body->end() && !it->value().is_null()) {
          if (!it->value().is_string() || !ids::valid_cid(it->value().get_string()))
            return error_reply(400, "bad_request",
                               "cid must be a string of 1 to 64 bytes, without U+0000");
          cid = std::string(it->value().get_string());
        }
        // Check (and cache) membership here, on the blocking pool, so the send below
        // needs no second trip through the pool.
        if (auto m = svc.require_member(room, me); !m) return from_error(m.error());
        std::promise<result<store::append_result>> done;
        auto fut = done.get_future();
        svc.send(chat::send_request{me, room, std::move(*text), cid, ""},
                 [&done](result<store::append_result> r) { done.set_value(std::move(r)); });
        auto r = fut.get();
        if (!r) return from_error(r.error());
        return json_reply(201, json::parse(chat::ack_frame(r.value().msg, std::nullopt)));
      }
      return error_reply(405, "bad_request", "method not allowed");
    }
  }
  return error_reply(404, "not_found", "no such route");
}

}  // namespace

bool needs_blocking(const http_request_info& req) {
  return req.path == "/readyz" || req.path.rfind("/api/", 0) == 0;
}

http_reply handle_http(chat::service& svc, const http_options& opts, const http_request_info& req) {
  global_metrics().http_requests.fetch_add(1, std::memory_order_relaxed);
  if (req.path == "/healthz") return json_reply(200, json::object{{"status", "ok"}});
  if (req.path == "/readyz") {
    auto ok = svc.storage().ping();
    json::object o;
    o["status"] = ok ? "ready" : "not_ready";
    o["store"] = ok ? "up" : "down";
    o["bus"] = opts.bus_state;
    // Cluster mode: Kafka's state, for operators (a Kafka outage does not make this 503).
    if (opts.bus_state != "local") o["kafka"] = opts.bus_state;
    return json_reply(ok ? 200 : 503, o);
  }
  if (req.path == "/metrics")
    return {200, global_metrics().render(), "text/plain; version=0.0.4", {}};
  if (req.path.rfind("/api/", 0) == 0) return api(svc, opts, req, split_path(req.path));
  if (req.method != "GET" && req.method != "HEAD")
    return error_reply(404, "not_found", "no such route");
  return static_file(opts, req.path);
}

}  // namespace parley::net
