#include <boost/json.hpp>

#include "bus/bus.h"

namespace parley::bus {

namespace json = boost::json;

namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "parley.bus"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::unavailable:
        return "bus unavailable";
      case errc::bad_record:
        return "bad record";
      case errc::closed:
        return "bus closed";
    }
    return "unknown bus error";
  }
};

const char* kind_name(kind k) {
  switch (k) {
    case kind::message:
      return "message";
    case kind::read:
      return "read";
    case kind::typing:
      return "typing";
    case kind::membership:
      return "membership";
  }
  return "message";
}

}  // namespace

const std::error_category& errc_category() noexcept {
  static const category c;
  return c;
}

std::string encode(const record& r) {
  json::object o;
  o["v"] = 1;
  o["kind"] = kind_name(r.type);
  o["room"] = r.room;
  switch (r.type) {
    case kind::message:
      o["seq"] = r.seq;
      o["id"] = r.id;
      o["from"] = r.from;
      o["text"] = r.text;
      o["ts"] = r.ts;
      if (r.cid)
        o["cid"] = *r.cid;
      else
        o["cid"] = nullptr;
      break;
    case kind::read:
      o["user"] = r.user;
      o["seq"] = r.seq;
      break;
    case kind::typing:
      o["user"] = r.user;
      break;
    case kind::membership:
      o["user"] = r.user;
      o["op"] = r.op;
      if (!r.by.empty()) o["by"] = r.by;
      if (r.seq > 0) o["seq"] = r.seq;
      break;
  }
  o["node"] = r.node;
  return json::serialize(o);
}

result<record> decode(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return errc::bad_record;
  const auto& o = v.get_object();
  auto str = [&](const char* k) -> const json::string* {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? &it->value().get_string() : nullptr;
  };
  auto num = [&](const char* k) -> std::optional<std::int64_t> {
    auto it = o.find(k);
    if (it == o.end() || !it->value().is_int64()) return std::nullopt;
    return it->value().get_int64();
  };
  auto ver = num("v");
  const auto *kd = str("kind"), *room = str("room");
  if (!ver || *ver != 1 || !kd || !room) return errc::bad_record;
  record r;
  r.room = std::string(*room);
  if (auto* n = str("node")) r.node = std::string(*n);
  if (*kd == "message") {
    auto seq = num("seq"), ts = num("ts");
    const auto *id = str("id"), *from = str("from"), *txt = str("text");
    if (!seq || *seq < 1 || !ts || !id || !from || !txt) return errc::bad_record;
    r.type = kind::message;
    r.seq = *seq;
    r.ts = *ts;
    r.id = std::string(*id);
    r.from = std::string(*from);
    r.text = std::string(*txt);
    if (auto* c = str("cid")) r.cid = std::string(*c);
  } else if (*kd == "read" || *kd == "typing" || *kd == "membership") {
    const auto* user = str("user");
    if (!user) return errc::bad_record;
    r.user = std::string(*user);
    if (*kd == "read") {
      auto seq = num("seq");
      if (!seq) return errc::bad_record;
      r.type = kind::read;
      r.seq = *seq;
    } else if (*kd == "typing") {
      r.type = kind::typing;
    } else {
      const auto* op = str("op");
      if (!op || (*op != "add" && *op != "remove")) return errc::bad_record;
      r.type = kind::membership;
      r.op = std::string(*op);
      if (auto* by = str("by")) r.by = std::string(*by);
      if (auto seq = num("seq")) r.seq = *seq;
    }
  } else {
    return errc::bad_record;
  }
  return r;
}

}  // namespace parley::bus
