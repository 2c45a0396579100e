#include "chat/frames.h"

#include <boost/json.hpp>

#include "base/ids.h"

namespace parley::chat {

namespace json = boost::json;

namespace {

// A stored message or a bus record (the same fields; the sender is `sender` or `from`).
template <class M>
void put_message_fields(json::object& o, const M& m, const std::string& sender) {
  o["room"] = m.room;
  o["seq"] = m.seq;
  o["id"] = m.id;
  o["from"] = sender;
  o["text"] = m.text;
  o["ts"] = m.ts;
  if (m.cid)
    o["cid"] = *m.cid;
  else
    o["cid"] = nullptr;
}

json::object message_object(const store::message& m) {
  json::object o;
  put_message_fields(o, m, m.sender);
  return o;
}

void put_rid(json::object& o, const std::optional<std::string>& rid) {
  if (rid) o["rid"] = *rid;
}

std::optional<frame_type> type_of(std::string_view t) {
  if (t == "send") return frame_type::send;
  if (t == "join") return frame_type::join;
  if (t == "leave") return frame_type::leave;
  if (t == "history") return frame_type::history;
  if (t == "typing") return frame_type::typing;
  if (t == "read") return frame_type::read;
  if (t == "auth") return frame_type::auth;
  if (t == "ping") return frame_type::ping;
  return std::nullopt;
}

// Field accessors that distinguish absent (nullopt + ok) from wrong-typed (error).
struct fields {
  const json::object& o;
  std::string error;

  bool has(const char* k) const {
    auto it = o.find(k);
    return it != o.end() && !it->value().is_null();
  }
  std::optional<std::string> str(const char* k) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return std::nullopt;
    if (!it->value().is_string()) {
      if (error.empty()) error = std::string("field '") + k + "' must be a string";
      return std::nullopt;
    }
    return std::string(it->value().get_string());
  }
  std::optional<std::int64_t> integer(const char* k) {
    auto it = o.find(k);
    if (it == o.end() || it->value().is_null()) return std::nullopt;
    const auto& v = it->value();
    if (v.is_int64()) return v.get_int64();
    if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX))
      return static_cast<std::int64_t>(v.get_uint64());
    if (v.is_double()) {
      // Range first: casting an out-of-range double to an integer is undefined.
      double d = v.get_double();
      if (d >= -9e15 && d <= 9e15 && d == static_cast<double>(static_cast<std::int64_t>(d)))
        return static_cast<std::int64_t>(d);
    }
    if (error.empty()) error = std::string("field '") + k + "' must be an integer";
    return std::nullopt;
  }
  void fail(std::string msg) {
    if (error.empty()) error = std::move(msg);
  }
};

}  // namespace

parse_outcome parse_client_frame(std::string_view text) {
  parse_outcome out;
  auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos || text[first] != '{') {
    // Seed compatibility: plain text is a send to the default room.
    client_frame f;
    f.type = frame_type::send;
    f.plain_text = true;
    f.text = std::string(text);
    out.frame = std::move(f);
    return out;
  }
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    out.failure.message = ec ? "malformed JSON: " + ec.message() : "frame is not a JSON object";
    out.failure.ref = std::nullopt;
    return out;
  }
  const auto& o = v.get_object();
  fields f{o, {}};
  client_frame cf;
  cf.rid = f.str("rid");
  if (cf.rid && !ids::valid_rid(*cf.rid)) f.fail("rid longer than 64 bytes");
  auto type = f.str("type");
  auto cid_for_ref = [&]() -> std::optional<std::string> {
    auto it = o.find("cid");
    if (it != o.end() && it->value().is_string()) return std::string(it->value().get_string());
    return type;
  };
  out.failure.rid = cf.rid && ids::valid_rid(*cf.rid) ? cf.rid : std::nullopt;
  if (!type) {
    out.failure.message = f.error.empty() ? "missing field 'type'" : f.error;
    out.failure.ref = cid_for_ref();  // the cid if the frame had one, else null
    return out;
  }
  auto t = type_of(*type);
  if (!t) {
    out.failure.message = "unknown type '" + *type + "'";
    out.failure.ref = cid_for_ref();
    return out;
  }
  cf.type = *t;
  auto need_room = [&](bool required) {
    cf.room = f.str("room");
    if (cf.room) {
      if (!ids::valid_room(*cf.room)) f.fail("invalid room id");
    } else if (required && f.error.empty()) {
      f.fail("missing field 'room'");
    }
  };
  switch (cf.type) {
    case frame_type::send: {
      need_room(false);
      auto txt = f.str("text");
      if (!txt)
        f.fail("missing field 'text'");
      else
        cf.text = std::move(*txt);
      cf.cid = f.str("cid");
      if (cf.cid && !ids::valid_cid(*cf.cid)) f.fail("cid must be 1 to 64 bytes, without U+0000");
      break;
    }
    case frame_type::join:
      need_room(true);
      cf.since = f.integer("since");
      if (cf.since && *cf.since < 0) f.fail("since must be >= 0");
      break;
    case frame_type::leave:
    case frame_type::typing:
      need_room(true);
      break;
    case frame_type::history: {
      need_room(true);
      cf.before = f.integer("before");
      auto lim = f.integer("limit");
      if (lim) {
        if (*lim < 1) f.fail("limit must be >= 1");
        cf.limit = static_cast<int>(std::min<std::int64_t>(*lim, 200));
      }
      break;
    }
    case frame_type::read: {
      need_room(true);
      auto s = f.integer("seq");
      if (!s && f.error.empty()) f.fail("missing field 'seq'");
      if (s && *s < 0) f.fail("seq must be >= 0");
      if (s) cf.seq = *s;
      break;
    }
    case frame_type::auth: {
      auto tok = f.str("token");
      if (!tok && f.error.empty()) f.fail("missing field 'token'");
      if (tok) cf.token = std::move(*tok);
      break;
    }
    case frame_type::ping:
      break;
  }
  if (!f.error.empty()) {
    out.failure.message = std::move(f.error);
    out.failure.ref = cid_for_ref();
    return out;
  }
  out.frame = std::move(cf);
  return out;
}

std::string hello_frame(const std::string& user, const std::string& session,
                        const std::string& node, std::int64_t server_time) {
  json::object o;
  o["type"] = "hello";
  o["user"] = user;
  o["session"] = session;
  o["node"] = node;
  o["server_time"] = server_time;
  o["protocol"] = 1;
  return json::serialize(o);
}

std::string ack_frame(const store::message& m, const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "ack";
  if (m.cid)
    o["cid"] = *m.cid;
  else
    o["cid"] = nullptr;
  o["room"] = m.room;
  o["seq"] = m.seq;
  o["id"] = m.id;
  o["ts"] = m.ts;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string message_frame(const store::message& m) {
  json::object o;
  o["type"] = "message";
  put_message_fields(o, m, m.sender);
  return json::serialize(o);
}

std::string message_frame(const bus::record& r) {
  json::object o;
  o["type"] = "message";
  put_message_fields(o, r, r.from);
  return json::serialize(o);
}

std::string joined_frame(const std::string& room, std::int64_t last_seq, std::int64_t read_seq,
                         const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "joined";
  o["room"] = room;
  o["last_seq"] = last_seq;
  o["read_seq"] = read_seq;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string history_frame(const std::string& room, const std::vector<store::message>& messages,
                          std::size_t first, std::size_t last, bool more,
                          const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "history";
  o["room"] = room;
  json::array arr;
  arr.reserve(last - first);
  for (std::size_t i = first; i < last; ++i) arr.emplace_back(message_object(messages[i]));
  o["messages"] = std::move(arr);
  o["more"] = more;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string typing_frame(const std::string& room, const std::string& user) {
  json::object o;
  o["type"] = "typing";
  o["room"] = room;
  o["user"] = user;
  return json::serialize(o);
}

std::string read_frame(const std::string& room, const std::string& user, std::int64_t seq) {
  json::object o;
  o["type"] = "read";
  o["room"] = room;
  o["user"] = user;
  o["seq"] = seq;
  return json::serialize(o);
}

std::string notify_frame(const std::string& room, const std::string& event, std::int64_t seq,
                         const std::string& from) {
  json::object o;
  o["type"] = "notify";
  o["room"] = room;
  o["event"] = event;
  o["seq"] = seq;
  o["from"] = from;
  return json::serialize(o);
}

std::string left_frame(const std::string& room, const std::optional<std::string>& reason,
                       const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "left";
  o["room"] = room;
  if (reason) o["reason"] = *reason;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string pong_frame(std::int64_t server_time, const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "pong";
  o["server_time"] = server_time;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string auth_ok_frame(std::int64_t exp_ms, const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "auth_ok";
  o["exp"] = exp_ms;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string error_frame(std::string_view code, std::string_view message,
                        const std::optional<std::string>& ref,
                        const std::optional<std::string>& rid) {
  json::object o;
  o["type"] = "error";
  o["code"] = code;
  o["message"] = message;
  if (ref)
    o["ref"] = *ref;
  else
    o["ref"] = nullptr;
  put_rid(o, rid);
  return json::serialize(o);
}

std::string message_json(const store::message& m) { return json::serialize(message_object(m)); }

std::string messages_json(const std::vector<store::message>& ms) {
  json::array arr;
  arr.reserve(ms.size());
  for (const auto& m : ms) arr.emplace_back(message_object(m));
  return json::serialize(arr);
}

}  // namespace parley::chat
