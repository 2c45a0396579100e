// frames: client frame parsing (every malformed case, ref rules, plain-text detection) and
// server frame serialisation (valid JSON with exactly protocol.md's field names).
#include "chat/frames.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

namespace parley::chat {
namespace {

namespace json = boost::json;

// boost::json::value compares with json values and literals, not std::string.
json::value js(std::string_view s) { return json::value(json::string(s)); }

parse_failure fail(std::string_view text) {
  auto out = parse_client_frame(text);
  EXPECT_FALSE(out.frame.has_value()) << "parsed OK but should fail: " << text;
  EXPECT_FALSE(out.failure.message.empty()) << text;
  return out.failure;
}

client_frame ok(std::string_view text) {
  auto out = parse_client_frame(text);
  EXPECT_TRUE(out.frame.has_value()) << text << " -> " << out.failure.message;
  return out.frame.value_or(client_frame{});
}

// ---- malformed frames ------------------------------------------------------------------

TEST(parse_client_frame, malformed_json_starting_with_brace) {
  for (std::string_view t : {"{", "{\"type\":", "{\"type\":\"ping\"", "{type:\"ping\"}",
                             "{\"type\":\"ping\"} trailing", "  {\"type\":'ping'}", "{}}"}) {
    auto f = fail(t);
    EXPECT_EQ(f.ref, std::nullopt) << t;
    EXPECT_EQ(f.rid, std::nullopt) << t;
  }
}

TEST(parse_client_frame, invalid_utf8_inside_json_string_is_malformed) {
  auto f = fail("{\"type\":\"send\",\"room\":\"dm:a:b\",\"text\":\"\xff\xfe\"}");
  EXPECT_EQ(f.ref, std::nullopt);
}

TEST(parse_client_frame, json_array_is_plain_text_per_protocol) {
  // protocol.md: plain text is a frame whose first non-blank character is not '{'. An array
  // is therefore a seed-compatible send of its text, not a bad_request.
  auto f = ok("[1,2,3]");
  EXPECT_TRUE(f.plain_text);
  EXPECT_EQ(f.type, frame_type::send);
  EXPECT_EQ(f.text, "[1,2,3]");
}

TEST(parse_client_frame, missing_type) {
  auto f = fail(R"({"room":"dm:a:b"})");
  EXPECT_EQ(f.ref, std::nullopt);
  f = fail(R"({"type":null})");
  EXPECT_EQ(f.ref, std::nullopt);
}

TEST(parse_client_frame, non_string_type) {
  for (std::string_view t :
       {R"({"type":1})", R"({"type":true})", R"({"type":["send"]})", R"({"type":{"a":1}})"}) {
    auto f = fail(t);
    EXPECT_EQ(f.ref, std::nullopt) << t;
  }
}

TEST(parse_client_frame, unknown_type_ref_is_the_type) {
  auto f = fail(R"({"type":"bogus","rid":"r1"})");
  EXPECT_EQ(f.ref, "bogus");
  EXPECT_EQ(f.rid, "r1");
  f = fail(R"({"type":"SEND","room":"dm:a:b","text":"x"})");  // case-sensitive
  EXPECT_EQ(f.ref, "SEND");
  f = fail(R"({"type":""})");
  EXPECT_EQ(f.ref, "");
}

// DEFECT (frames.cc, parse_client_frame): protocol.md says an error's `ref` "echoes the
// request's cid if it had one, else its type", and frames.h documents parse_failure::ref as
// "cid if present, else the type string". For an unknown or missing type the parser returns
// the type (or null) even when the frame carries a string cid.
TEST(parse_client_frame, ref_is_cid_even_when_type_is_unknown_or_missing) {
  EXPECT_EQ(fail(R"({"type":"bogus","cid":"c1"})").ref, "c1");
  EXPECT_EQ(fail(R"({"cid":"c2","room":"dm:a:b","text":"x"})").ref, "c2");
}

TEST(parse_client_frame, wrong_typed_fields) {
  struct tc {
    const char* text;
    const char* ref;
  };
  const tc cases[] = {
      {R"({"type":"send","room":5,"text":"x"})", "send"},
      {R"({"type":"send","room":"dm:a:b","text":5})", "send"},
      {R"({"type":"send","room":"dm:a:b","text":["x"]})", "send"},
      {R"({"type":"send","room":"dm:a:b","text":"x","cid":7})", "send"},
      {R"({"type":"join","room":{"id":"dm:a:b"}})", "join"},
      {R"({"type":"join","room":"dm:a:b","since":"3"})", "join"},
      {R"({"type":"join","room":"dm:a:b","since":true})", "join"},
      {R"({"type":"leave","room":1})", "leave"},
      {R"({"type":"typing","room":false})", "typing"},
      {R"({"type":"history","room":"dm:a:b","before":"10"})", "history"},
      {R"({"type":"history","room":"dm:a:b","limit":"10"})", "history"},
      {R"({"type":"history","room":"dm:a:b","limit":[10]})", "history"},
      {R"({"type":"read","room":"dm:a:b","seq":"4"})", "read"},
      {R"({"type":"read","room":"dm:a:b","seq":{}})", "read"},
      {R"({"type":"auth","token":42})", "auth"},
      {R"({"type":"ping","rid":5})", "ping"},
      {R"({"type":"ping","rid":{"a":1}})", "ping"},
  };
  for (const auto& c : cases) {
    auto f = fail(c.text);
    EXPECT_EQ(f.ref, c.ref) << c.text;
  }
}

TEST(parse_client_frame, wrong_typed_cid_is_not_used_as_ref) {
  auto f = fail(R"({"type":"send","room":"dm:a:b","text":"x","cid":7})");
  EXPECT_EQ(f.ref, "send");
}

TEST(parse_client_frame, missing_required_fields) {
  EXPECT_EQ(fail(R"({"type":"send","room":"dm:a:b"})").ref, "send");  // text
  EXPECT_EQ(fail(R"({"type":"send","room":"dm:a:b","cid":"c9"})").ref, "c9");
  EXPECT_EQ(fail(R"({"type":"join"})").ref, "join");
  EXPECT_EQ(fail(R"({"type":"leave"})").ref, "leave");
  EXPECT_EQ(fail(R"({"type":"typing"})").ref, "typing");
  EXPECT_EQ(fail(R"({"type":"history"})").ref, "history");
  EXPECT_EQ(fail(R"({"type":"read","room":"dm:a:b"})").ref, "read");
  EXPECT_EQ(fail(R"({"type":"read","seq":3})").ref, "read");
  EXPECT_EQ(fail(R"({"type":"auth"})").ref, "auth");
  EXPECT_EQ(fail(R"({"type":"join","room":null})").ref, "join");
}

TEST(parse_client_frame, invalid_room_ids) {
  for (std::string_view room :
       {"", "dm:bob:alice", "dm:b:a", "dm:a", "dm:a:b:c", "dm::b", "dm:a:", "g:", "g:a b", "g:a/b",
        "g:\xc3\xa9", "x:abc", "general", "G:abc", "dm:a b:c"}) {
    for (std::string_view type : {"join", "leave", "typing", "history"}) {
      std::string t = std::string(R"({"type":")") + std::string(type) + R"(","room":")" +
                      std::string(room) + R"("})";
      auto f = fail(t);
      EXPECT_EQ(f.ref, std::string(type)) << t;
    }
    std::string s = std::string(R"({"type":"send","cid":"c1","text":"x","room":")") +
                    std::string(room) + R"("})";
    EXPECT_EQ(fail(s).ref, "c1") << s;
  }
  std::string long_group = "g:" + std::string(65, 'a');
  fail(R"({"type":"join","room":")" + long_group + R"("})");
  std::string long_user(129, 'u');
  fail(R"({"type":"join","room":"dm:a:)" + long_user + R"("})");
}

TEST(parse_client_frame, valid_room_ids) {
  for (std::string_view room :
       {"dm:alice:bob", "dm:a:a", "dm:A:a", "dm:1:2", "dm:a.b@c:x-y_z", "g:abc", "g:A-b_9"}) {
    std::string t = std::string(R"({"type":"join","room":")") + std::string(room) + R"("})";
    EXPECT_EQ(ok(t).room, std::string(room)) << t;
  }
  std::string g64 = "g:" + std::string(64, 'z');
  EXPECT_EQ(ok(R"({"type":"join","room":")" + g64 + R"("})").room, g64);
}

TEST(parse_client_frame, cid_length) {
  auto f = fail(R"({"type":"send","room":"dm:a:b","text":"x","cid":""})");
  EXPECT_EQ(f.ref, "");  // the (invalid) cid is still what the client sent
  std::string c65(65, 'c');
  f = fail(R"({"type":"send","room":"dm:a:b","text":"x","cid":")" + c65 + R"("})");
  EXPECT_EQ(f.ref, c65);
  std::string c64(64, 'c');
  EXPECT_EQ(ok(R"({"type":"send","room":"dm:a:b","text":"x","cid":")" + c64 + R"("})").cid, c64);
  EXPECT_EQ(ok(R"({"type":"send","room":"dm:a:b","text":"x","cid":"1"})").cid, "1");
}

TEST(parse_client_frame, rid_length) {
  std::string r65(65, 'r');
  auto f = fail(R"({"type":"ping","rid":")" + r65 + R"("})");
  EXPECT_EQ(f.rid, std::nullopt);  // never echo an invalid rid
  EXPECT_EQ(f.ref, "ping");
  std::string r64(64, 'r');
  EXPECT_EQ(ok(R"({"type":"ping","rid":")" + r64 + R"("})").rid, r64);
  EXPECT_EQ(ok(R"({"type":"ping","rid":""})").rid, "");
  // A failure after a valid rid echoes it.
  EXPECT_EQ(fail(R"({"type":"join","rid":"q1"})").rid, "q1");
  EXPECT_EQ(fail(R"({"type":"nope","rid":"q2"})").rid, "q2");
}

TEST(parse_client_frame, negative_since_and_seq) {
  EXPECT_EQ(fail(R"({"type":"join","room":"dm:a:b","since":-1})").ref, "join");
  EXPECT_EQ(fail(R"({"type":"read","room":"dm:a:b","seq":-1})").ref, "read");
  EXPECT_EQ(ok(R"({"type":"join","room":"dm:a:b","since":0})").since, 0);
  EXPECT_EQ(ok(R"({"type":"read","room":"dm:a:b","seq":0})").seq, 0);
}

TEST(parse_client_frame, history_limit) {
  EXPECT_EQ(fail(R"({"type":"history","room":"dm:a:b","limit":0})").ref, "history");
  EXPECT_EQ(fail(R"({"type":"history","room":"dm:a:b","limit":-5})").ref, "history");
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b"})").limit, 50);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":1})").limit, 1);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":200})").limit, 200);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":500})").limit, 200);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":9007199254740991})").limit, 200);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":null})").limit, 50);
  auto h = ok(R"({"type":"history","room":"dm:a:b","before":17})");
  EXPECT_EQ(h.before, 17);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b"})").before, std::nullopt);
}

TEST(parse_client_frame, floats_must_be_integral) {
  EXPECT_EQ(ok(R"({"type":"join","room":"dm:a:b","since":2.0})").since, 2);
  EXPECT_EQ(ok(R"({"type":"read","room":"dm:a:b","seq":3e2})").seq, 300);
  EXPECT_EQ(ok(R"({"type":"history","room":"dm:a:b","limit":2.0})").limit, 2);
  fail(R"({"type":"join","room":"dm:a:b","since":1.5})");
  fail(R"({"type":"read","room":"dm:a:b","seq":0.1})");
  fail(R"({"type":"history","room":"dm:a:b","limit":1.5})");
  fail(R"({"type":"history","room":"dm:a:b","before":2.5})");
}

TEST(parse_client_frame, huge_integers) {
  // Beyond int64 (uint64 range and beyond): wrong-typed, not wrapped around.
  fail(R"({"type":"join","room":"dm:a:b","since":9223372036854775808})");
  fail(R"({"type":"join","room":"dm:a:b","since":18446744073709551615})");
  fail(R"({"type":"join","room":"dm:a:b","since":18446744073709551616})");
  fail(R"({"type":"join","room":"dm:a:b","since":1e300})");
  fail(R"({"type":"read","room":"dm:a:b","seq":1e19})");
  fail(R"({"type":"history","room":"dm:a:b","before":-1e30})");
  EXPECT_EQ(ok(R"({"type":"join","room":"dm:a:b","since":9223372036854775807})").since, INT64_MAX);
  EXPECT_EQ(ok(R"({"type":"read","room":"dm:a:b","seq":9223372036854775807})").seq, INT64_MAX);
}

TEST(parse_client_frame, valid_frames_of_every_type) {
  auto s = ok(R"({"type":"send","room":"dm:a:b","text":"hi","cid":"c1","rid":"r1"})");
  EXPECT_EQ(s.type, frame_type::send);
  EXPECT_FALSE(s.plain_text);
  EXPECT_EQ(s.room, "dm:a:b");
  EXPECT_EQ(s.text, "hi");
  EXPECT_EQ(s.cid, "c1");
  EXPECT_EQ(s.rid, "r1");

  auto d = ok(R"({"type":"send","text":"to default"})");
  EXPECT_EQ(d.room, std::nullopt);
  EXPECT_EQ(d.cid, std::nullopt);

  auto j = ok(R"({"type":"join","room":"g:abc"})");
  EXPECT_EQ(j.type, frame_type::join);
  EXPECT_EQ(j.since, std::nullopt);
  EXPECT_EQ(ok(R"({"type":"join","room":"g:abc","since":12})").since, 12);
  EXPECT_EQ(ok(R"({"type":"leave","room":"g:abc"})").type, frame_type::leave);
  EXPECT_EQ(ok(R"({"type":"typing","room":"g:abc"})").type, frame_type::typing);
  auto r = ok(R"({"type":"read","room":"g:abc","seq":4})");
  EXPECT_EQ(r.type, frame_type::read);
  EXPECT_EQ(r.seq, 4);
  auto a = ok(R"({"type":"auth","token":"x.y.z"})");
  EXPECT_EQ(a.type, frame_type::auth);
  EXPECT_EQ(a.token, "x.y.z");
  EXPECT_EQ(ok(R"({"type":"ping"})").type, frame_type::ping);
}

TEST(parse_client_frame, unknown_fields_are_ignored) {
  auto p = ok(R"({"type":"ping","future":{"x":[1,2]},"v":2})");
  EXPECT_EQ(p.type, frame_type::ping);
  // Fields of other frame types are ignored too (e.g. a ping's "room" is not validated).
  EXPECT_EQ(ok(R"({"type":"ping","room":"not a room"})").type, frame_type::ping);
}

// ---- plain text ------------------------------------------------------------------------

TEST(parse_client_frame, plain_text_is_a_send) {
  for (std::string_view t : {"hello", " hello {", "", "   ", "\t", "x{\"type\":\"ping\"}",
                             "[\"type\"]", "\"{\"", "1234", "null"}) {
    auto f = ok(t);
    EXPECT_TRUE(f.plain_text) << t;
    EXPECT_EQ(f.type, frame_type::send) << t;
    EXPECT_EQ(f.text, std::string(t)) << t;
    EXPECT_EQ(f.room, std::nullopt);
    EXPECT_EQ(f.cid, std::nullopt);
    EXPECT_EQ(f.rid, std::nullopt);
  }
}

TEST(parse_client_frame, leading_whitespace_then_brace_is_json) {
  for (std::string_view t : {" {\"type\":\"ping\"}", "\n\t\r {\"type\":\"ping\"}"}) {
    auto f = ok(t);
    EXPECT_FALSE(f.plain_text) << t;
    EXPECT_EQ(f.type, frame_type::ping);
  }
  // ... and a broken one is bad_request, not a plain-text send.
  EXPECT_EQ(fail("  {not json").ref, std::nullopt);
}

// ---- server frames ---------------------------------------------------------------------

json::object obj(const std::string& s) {
  boost::system::error_code ec;
  auto v = json::parse(s, ec);
  EXPECT_FALSE(ec) << s;
  EXPECT_TRUE(v.is_object()) << s;
  return v.is_object() ? v.as_object() : json::object{};
}

std::set<std::string> keys(const json::object& o) {
  std::set<std::string> k;
  for (const auto& kv : o) k.insert(std::string(kv.key()));
  return k;
}

store::message msg(std::optional<std::string> cid = "c1") {
  return store::message{
      "dm:alice:bob", 7, "01HZX", "alice", std::move(cid), "he said \"hi\"\n\xc3\xa9",
      1700000000123};
}

TEST(server_frames, hello) {
  auto o = obj(hello_frame("alice", "s1", "node-1", 42));
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"type", "user", "session", "node", "server_time", "protocol"}));
  EXPECT_EQ(o["type"], "hello");
  EXPECT_EQ(o["user"], "alice");
  EXPECT_EQ(o["session"], "s1");
  EXPECT_EQ(o["node"], "node-1");
  EXPECT_EQ(o["server_time"], 42);
  EXPECT_EQ(o["protocol"], 1);
}

TEST(server_frames, ack) {
  auto o = obj(ack_frame(msg(), std::nullopt));
  EXPECT_EQ(keys(o), (std::set<std::string>{"type", "cid", "room", "seq", "id", "ts"}));
  EXPECT_EQ(o["type"], "ack");
  EXPECT_EQ(o["cid"], "c1");
  EXPECT_EQ(o["room"], "dm:alice:bob");
  EXPECT_EQ(o["seq"], 7);
  EXPECT_EQ(o["id"], "01HZX");
  EXPECT_EQ(o["ts"], 1700000000123);

  auto n = obj(ack_frame(msg(std::nullopt), "r9"));
  EXPECT_EQ(keys(n), (std::set<std::string>{"type", "cid", "room", "seq", "id", "ts", "rid"}));
  EXPECT_TRUE(n["cid"].is_null());
  EXPECT_EQ(n["rid"], "r9");
}

TEST(server_frames, message_and_message_json) {
  auto o = obj(message_frame(msg()));
  EXPECT_EQ(keys(o),
            (std::set<std::string>{"type", "room", "seq", "id", "from", "text", "ts", "cid"}));
  EXPECT_EQ(o["type"], "message");
  EXPECT_EQ(o["from"], "alice");
  EXPECT_EQ(o["text"], "he said \"hi\"\n\xc3\xa9");
  EXPECT_EQ(o["seq"], 7);
  EXPECT_EQ(o["cid"], "c1");
  EXPECT_TRUE(obj(message_frame(msg(std::nullopt)))["cid"].is_null());

  auto j = obj(message_json(msg()));
  EXPECT_EQ(keys(j), (std::set<std::string>{"room", "seq", "id", "from", "text", "ts", "cid"}));

  auto arr = json::parse(messages_json({msg(), msg(std::nullopt)}));
  ASSERT_TRUE(arr.is_array());
  ASSERT_EQ(arr.as_array().size(), 2u);
  EXPECT_EQ(keys(arr.as_array()[1].as_object()),
            (std::set<std::string>{"room", "seq", "id", "from", "text", "ts", "cid"}));
  EXPECT_EQ(json::parse(messages_json({})), json::array{});
}

TEST(server_frames, joined) {
  auto o = obj(joined_frame("g:abc", 10, 4, std::nullopt));
  EXPECT_EQ(keys(o), (std::set<std::string>{"type", "room", "last_seq", "read_seq"}));
  EXPECT_EQ(o["type"], "joined");
  EXPECT_EQ(o["room"], "g:abc");
  EXPECT_EQ(o["last_seq"], 10);
  EXPECT_EQ(o["read_seq"], 4);
  EXPECT_EQ(obj(joined_frame("g:abc", 0, 0, "r"))["rid"], "r");
}

TEST(server_frames, history) {
  std::vector<store::message> ms;
  for (int i = 1; i <= 5; ++i) {
    auto m = msg();
    m.seq = i;
    ms.push_back(m);
  }
  auto o = obj(history_frame("dm:alice:bob", ms, 1, 4, true, std::nullopt));
  EXPECT_EQ(keys(o), (std::set<std::string>{"type", "room", "messages", "more"}));
  EXPECT_EQ(o["type"], "history");
  EXPECT_EQ(o["more"], true);
  const auto& arr = o["messages"].as_array();
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(arr[0].as_object().at("seq"), 2);
  EXPECT_EQ(arr[2].as_object().at("seq"), 4);
  EXPECT_FALSE(arr[0].as_object().contains("type"));
  EXPECT_EQ(keys(arr[0].as_object()),
            (std::set<std::string>{"room", "seq", "id", "from", "text", "ts", "cid"}));

  auto e = obj(history_frame("dm:alice:bob", {}, 0, 0, false, "r2"));
  EXPECT_EQ(keys(e), (std::set<std::string>{"type", "room", "messages", "more", "rid"}));
  EXPECT_TRUE(e["messages"].as_array().empty());
  EXPECT_EQ(e["more"], false);
}

TEST(server_frames, typing_read_notify) {
  auto t = obj(typing_frame("g:abc", "bob"));
  EXPECT_EQ(keys(t), (std::set<std::string>{"type", "room", "user"}));
  EXPECT_EQ(t["type"], "typing");
  EXPECT_EQ(t["user"], "bob");

  auto r = obj(read_frame("g:abc", "bob", 12));
  EXPECT_EQ(keys(r), (std::set<std::string>{"type", "room", "user", "seq"}));
  EXPECT_EQ(r["type"], "read");
  EXPECT_EQ(r["seq"], 12);

  auto n = obj(notify_frame("g:abc", "added", 3, "carol"));
  EXPECT_EQ(keys(n), (std::set<std::string>{"type", "room", "event", "seq", "from"}));
  EXPECT_EQ(n["type"], "notify");
  EXPECT_EQ(n["event"], "added");
  EXPECT_EQ(n["seq"], 3);
  EXPECT_EQ(n["from"], "carol");
}

TEST(server_frames, left) {
  auto a = obj(left_frame("g:abc", std::nullopt, std::nullopt));
  EXPECT_EQ(keys(a), (std::set<std::string>{"type", "room"}));
  EXPECT_EQ(a["type"], "left");
  auto b = obj(left_frame("g:abc", std::string("removed"), "r3"));
  EXPECT_EQ(keys(b), (std::set<std::string>{"type", "room", "reason", "rid"}));
  EXPECT_EQ(b["reason"], "removed");
  EXPECT_EQ(b["rid"], "r3");
}

TEST(server_frames, pong_auth_ok) {
  auto p = obj(pong_frame(99, std::nullopt));
  EXPECT_EQ(keys(p), (std::set<std::string>{"type", "server_time"}));
  EXPECT_EQ(p["type"], "pong");
  EXPECT_EQ(p["server_time"], 99);
  EXPECT_EQ(obj(pong_frame(1, "r"))["rid"], "r");

  auto a = obj(auth_ok_frame(1234, "r4"));
  EXPECT_EQ(keys(a), (std::set<std::string>{"type", "exp", "rid"}));
  EXPECT_EQ(a["type"], "auth_ok");
  EXPECT_EQ(a["exp"], 1234);
}

TEST(server_frames, error) {
  auto e = obj(error_frame("bad_request", "it \"broke\"", std::nullopt, std::nullopt));
  EXPECT_EQ(keys(e), (std::set<std::string>{"type", "code", "message", "ref"}));
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["code"], "bad_request");
  EXPECT_EQ(e["message"], "it \"broke\"");
  EXPECT_TRUE(e["ref"].is_null());
  auto f = obj(error_frame("not_member", "m", std::string("c1"), std::string("r1")));
  EXPECT_EQ(keys(f), (std::set<std::string>{"type", "code", "message", "ref", "rid"}));
  EXPECT_EQ(f["ref"], "c1");
  EXPECT_EQ(f["rid"], "r1");
}

TEST(server_frames, strings_are_escaped) {
  // Control characters, quotes and backslashes in user-controlled fields stay valid JSON.
  std::string nasty = std::string("a\"b\\c\x01\x1f\n", 8) + "</script>";
  auto o = obj(typing_frame("g:abc", nasty));
  EXPECT_EQ(o["user"], js(nasty));
  auto m = msg();
  m.text = nasty;
  m.cid = nasty;
  auto j = obj(message_frame(m));
  EXPECT_EQ(j["text"], js(nasty));
  EXPECT_EQ(j["cid"], js(nasty));
  EXPECT_EQ(obj(error_frame("internal", nasty, nasty, nasty))["ref"], js(nasty));
}

}  // namespace
}  // namespace parley::chat
