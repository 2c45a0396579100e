#include "harness.h"

#include <iostream>

#include "auth/jwt.h"
#include "raw_jwt.h"

namespace parley::itest {
namespace {

constexpr std::size_t k_max_transcript = 200;

std::string who(const conn& c) { return c.user.empty() ? "<conn>" : c.user; }

}  // namespace

bool conn::send(const json::object& o) { return ws && ws->send_text(json::serialize(o)); }

bool conn::send_text(std::string text) { return ws && ws->send_text(std::move(text)); }

std::string conn::transcript() const {
  std::string out;
  for (const auto& f : seen) out += "    " + f + "\n";
  if (seen.size() >= k_max_transcript) out += "    ... (transcript capped)\n";
  return out.empty() ? "    (no frames)\n" : out;
}

std::string str(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::int64_t num(const json::object& o, std::string_view key, std::int64_t absent) {
  auto* v = o.if_contains(key);
  if (v == nullptr) return absent;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  return absent;
}

bool boolean(const json::object& o, std::string_view key, bool absent) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_bool() ? v->as_bool() : absent;
}

bool is_null(const json::object& o, std::string_view key) {
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_null();
}

const json::array& arr(const json::object& o, std::string_view key) {
  static const json::array k_empty;
  auto* v = o.if_contains(key);
  return v != nullptr && v->is_array() ? v->as_array() : k_empty;
}

std::string dump(const json::value& v, std::size_t max) {
  std::string s = json::serialize(v);
  if (s.size() > max) s = s.substr(0, max) + "...(" + std::to_string(s.size()) + " bytes)";
  return s;
}

// The next frame from the wire (not the stash), recorded in the transcript.
std::optional<json::object> read_wire(conn& c, std::chrono::milliseconds timeout) {
  if (!c.ws) return std::nullopt;
  auto text = c.ws->recv(timeout);
  if (!text) return std::nullopt;
  json::object f;
  boost::system::error_code ec;
  json::value v = json::parse(*text, ec);
  if (!ec && v.is_object()) {
    f = std::move(v.as_object());
  } else {
    // Not part of the protocol: surface it as a frame of its own kind so tests fail loudly.
    f["type"] = "<non-json-object>";
    f["raw"] = text->substr(0, 200);
  }
  if (c.seen.size() < k_max_transcript) c.seen.push_back(dump(f, 300));
  return f;
}

std::optional<json::object> next_frame(conn& c, std::chrono::milliseconds timeout) {
  if (!c.stash.empty()) {
    json::object f = std::move(c.stash.front());
    c.stash.pop_front();
    return f;
  }
  return read_wire(c, timeout);
}

json::object expect_next(conn& c, std::string_view type, std::chrono::milliseconds timeout) {
  auto f = next_frame(c, timeout);
  if (!f) {
    ADD_FAILURE() << who(c) << ": expected a '" << type << "' frame, got none within "
                  << timeout.count() << " ms; frames seen:\n"
                  << c.transcript();
    return {};
  }
  if (str(*f, "type") != type) {
    ADD_FAILURE() << who(c) << ": expected the next frame to be '" << type << "', got " << dump(*f)
                  << "; frames seen:\n"
                  << c.transcript();
    return {};
  }
  return std::move(*f);
}

json::object expect_frame(conn& c, std::string_view type, std::chrono::milliseconds timeout) {
  for (auto it = c.stash.begin(); it != c.stash.end(); ++it) {
    if (str(*it, "type") == type) {
      json::object f = std::move(*it);
      c.stash.erase(it);
      return f;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::deque<json::object> skipped;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<json::object> f;
    if (left.count() > 0) f = read_wire(c, left);
    if (!f) {
      for (auto& s : skipped) c.stash.push_back(std::move(s));
      ADD_FAILURE() << who(c) << ": no '" << type << "' frame within " << timeout.count()
                    << " ms; frames seen:\n"
                    << c.transcript();
      return {};
    }
    if (str(*f, "type") == type) {
      for (auto& s : skipped) c.stash.push_back(std::move(s));
      return std::move(*f);
    }
    skipped.push_back(std::move(*f));
  }
}

void assert_no_frame(conn& c, std::string_view type, std::chrono::milliseconds d) {
  for (const auto& f : c.stash) {
    if (str(f, "type") == type) {
      ADD_FAILURE() << who(c) << ": unexpected '" << type << "' frame " << dump(f)
                    << "; frames seen:\n"
                    << c.transcript();
      return;
    }
  }
  const auto deadline = std::chrono::steady_clock::now() + d;
  std::deque<json::object> skipped;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto f = read_wire(c, left);
    if (!f) break;
    bool bad = str(*f, "type") == type;
    skipped.push_back(std::move(*f));
    if (bad) {
      ADD_FAILURE() << who(c) << ": unexpected '" << type << "' frame " << dump(skipped.back())
                    << "; frames seen:\n"
                    << c.transcript();
      break;
    }
  }
  for (auto& s : skipped) c.stash.push_back(std::move(s));
}

void expect_closed(conn& c, int code, std::chrono::milliseconds timeout) {
  if (!c.ws) {
    ADD_FAILURE() << who(c) << ": no connection";
    return;
  }
  auto got = c.ws->wait_closed(timeout);
  // Keep frames that arrived before the close.
  while (auto f = read_wire(c, 0ms)) c.stash.push_back(std::move(*f));
  if (!got) {
    ADD_FAILURE() << who(c) << ": expected close " << code << " within " << timeout.count()
                  << " ms, connection still open; frames seen:\n"
                  << c.transcript();
  } else if (*got != code) {
    ADD_FAILURE() << who(c) << ": expected close " << code << ", got " << *got << "; frames seen:\n"
                  << c.transcript();
  }
}

std::vector<json::object> collect_messages(conn& c, std::string_view room, std::size_t n,
                                           std::chrono::milliseconds per_frame) {
  std::vector<json::object> out;
  std::deque<json::object> skipped;
  // Messages already stashed count first, in order.
  for (auto it = c.stash.begin(); it != c.stash.end() && out.size() < n;) {
    if (str(*it, "type") == "message" && str(*it, "room") == room) {
      out.push_back(std::move(*it));
      it = c.stash.erase(it);
    } else {
      ++it;
    }
  }
  while (out.size() < n) {
    auto f = read_wire(c, per_frame);
    if (!f) {
      ADD_FAILURE() << who(c) << ": got " << out.size() << " of " << n << " messages of " << room
                    << "; frames seen:\n"
                    << c.transcript();
      break;
    }
    if (str(*f, "type") == "message" && str(*f, "room") == room) {
      out.push_back(std::move(*f));
    } else {
      skipped.push_back(std::move(*f));
    }
  }
  for (auto& s : skipped) c.stash.push_back(std::move(s));
  return out;
}

std::string dm_room(std::string_view a, std::string_view b) {
  return a <= b ? "dm:" + std::string(a) + ":" + std::string(b)
                : "dm:" + std::string(b) + ":" + std::string(a);
}

std::string enc(std::string_view s) {
  static constexpr char k_hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~' || ch == ':' ||
        ch == '@') {
      out.push_back(static_cast<char>(ch));
    } else {
      out.push_back('%');
      out.push_back(k_hex[ch >> 4]);
      out.push_back(k_hex[ch & 15]);
    }
  }
  return out;
}

std::optional<double> metric(const std::string& text, std::string_view name) {
  std::optional<double> sum;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.rfind(name, 0) != 0 || line.size() <= name.size()) continue;
    char next = line[name.size()];
    if (next != ' ' && next != '{') continue;
    std::size_t sp = line.rfind(' ');
    try {
      sum = sum.value_or(0) + std::stod(std::string(line.substr(sp + 1)));
    } catch (...) {
    }
  }
  return sum;
}

void itest::TearDown() {
  if (server_ && HasFailure()) {
    server_->keep_dir();
    std::string log = server_->log();
    constexpr std::size_t k_tail = 20000;
    if (log.size() > k_tail) log = "...\n" + log.substr(log.size() - k_tail);
    std::cerr << "---- parleyd (dir " << server_->dir() << ", error '" << server_->error()
              << "') stderr ----\n"
              << log << "\n---- end of parleyd stderr ----\n";
  }
}

bool itest::start(std::vector<std::string> flags) {
  server_ = std::make_unique<server_process>(std::move(flags));
  if (server_->start()) return true;
  ADD_FAILURE() << "parleyd did not start: " << server_->error();
  return false;
}

std::string itest::token(std::string_view user, std::int64_t ttl_s) const {
  return auth::mint_hs256(server_->secret(), user, unix_s(ttl_s));
}

std::string itest::ws_url(std::string_view tok, std::string_view query) const {
  std::string url = server_->ws_base() + "/ws?token=" + enc(tok);
  if (!query.empty()) url += "&" + std::string(query);
  return url;
}

std::unique_ptr<client::ws_client> itest::raw_connect(const std::string& url,
                                                      const client::connect_options& opts,
                                                      client::connect_error* err) {
  return client::ws_client::connect(url, opts, err);
}

std::unique_ptr<conn> itest::connect(std::string_view user, std::string_view query) {
  client::connect_error err;
  auto ws = client::ws_client::connect(ws_url(token(user), query), {}, &err);
  if (!ws) {
    ADD_FAILURE() << user << ": connect (" << query << ") refused: HTTP " << err.http_status << " "
                  << err.body;
    return nullptr;
  }
  auto c = std::make_unique<conn>();
  c->ws = std::move(ws);
  c->user = std::string(user);
  c->hello = expect_next(*c, "hello");
  if (c->hello.empty()) return nullptr;
  return c;
}

client::http_response itest::http(std::string_view user, const std::string& method,
                                  const std::string& target, const std::string& body) {
  std::optional<std::string> bearer;
  if (!user.empty()) bearer = token(user);
  return client::http_request(server_->http_base(), method, target, body, bearer);
}

std::string itest::create_room(std::string_view owner, std::string_view name,
                               const std::vector<std::string>& members) {
  json::array m;
  for (const auto& u : members) m.emplace_back(u);
  json::object body{{"name", name}, {"members", std::move(m)}};
  auto r = http(owner, "POST", "/api/rooms", json::serialize(body));
  if (r.status != 201) {
    ADD_FAILURE() << "POST /api/rooms: " << r.status << " " << r.body;
    return {};
  }
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  if (ec || !v.is_object() || str(v.as_object(), "id").empty()) {
    ADD_FAILURE() << "POST /api/rooms: bad body " << r.body;
    return {};
  }
  return str(v.as_object(), "id");
}

std::vector<json::object> itest::seed(conn& c, std::string_view room, int n,
                                      std::string_view prefix) {
  std::vector<json::object> acks;
  for (int i = 0; i < n; ++i) {
    c.send({{"type", "send"},
            {"room", room},
            {"text", std::string(prefix) + " " + std::to_string(i)},
            {"cid", std::string(prefix) + "-" + std::to_string(i)}});
  }
  while (static_cast<int>(acks.size()) < n) {
    auto f = next_frame(c);
    if (!f) {
      ADD_FAILURE() << "seed: " << acks.size() << " of " << n << " acks; frames seen:\n"
                    << c.transcript();
      break;
    }
    if (str(*f, "type") == "ack") {
      acks.push_back(std::move(*f));
    } else if (str(*f, "type") == "error") {
      ADD_FAILURE() << "seed: error " << dump(*f);
      break;
    }
  }
  return acks;
}

}  // namespace parley::itest
