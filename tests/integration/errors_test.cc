// protocol.md section 4 "Error codes", rid echo, ping/pong, and the size and rate limits of
// section 5 that answer with an error frame.
#include "harness.h"
#include "raw_jwt.h"

namespace parley::itest {
namespace {

class errors_test : public itest {
 protected:
  // Sends `frame` and expects an error with `code` (and `ref` unless empty) as the next frame.
  json::object expect_error(conn& c, const json::object& frame, std::string_view code,
                            std::string_view ref = {}) {
    SCOPED_TRACE("frame: " + dump(frame));
    c.send(frame);
    auto err = expect_next(c, "error");
    EXPECT_EQ(str(err, "code"), code) << dump(err);
    EXPECT_TRUE(err.contains("message")) << dump(err);
    if (!ref.empty()) {
      EXPECT_EQ(str(err, "ref"), ref) << dump(err);
    }
    return err;
  }
  void expect_still_open(conn& c) {
    c.send({{"type", "ping"}, {"rid", "alive"}});
    auto p = expect_next(c, "pong");
    EXPECT_EQ(str(p, "rid"), "alive");
  }
};

TEST_F(errors_test, invalid_json_is_bad_request_and_connection_stays_open) {
  ASSERT_TRUE(start());
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  expect_next(*c, "joined");
  expect_next(*c, "history");
  for (std::string bad : {"{not json", "  {\"type\":\"ping\"", "{}x", "{\"type\":\"send\",}"}) {
    SCOPED_TRACE("frame: " + bad);
    c->send_text(bad);
    EXPECT_EQ(str(expect_next(*c, "error"), "code"), "bad_request");
  }
  expect_still_open(*c);
  // Nothing was stored.
  c->send({{"type", "history"}, {"room", "dm:alice:bob"}});
  EXPECT_TRUE(arr(expect_next(*c, "history"), "messages").empty());
}

TEST_F(errors_test, truncated_json_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  expect_next(*c, "joined");
  expect_next(*c, "history");
  c->send_text("{\"type\":[}");
  EXPECT_EQ(str(expect_next(*c, "error"), "code"), "bad_request");
  expect_still_open(*c);
}

TEST_F(errors_test, unknown_type_is_bad_request_with_type_as_ref) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  auto err = expect_error(*c, {{"type", "bogus"}, {"rid", "r1"}}, "bad_request", "bogus");
  EXPECT_EQ(str(err, "rid"), "r1");
  expect_error(*c, {{"text", "no type"}}, "bad_request");
  expect_error(*c, {{"type", 7}}, "bad_request");
  expect_still_open(*c);
}

TEST_F(errors_test, missing_field_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  expect_error(*c, {{"type", "send"}, {"room", "dm:alice:bob"}, {"cid", "m1"}}, "bad_request",
               "m1");
  expect_error(*c, {{"type", "join"}}, "bad_request", "join");
  expect_error(*c, {{"type", "read"}, {"room", "dm:alice:bob"}}, "bad_request", "read");
  expect_still_open(*c);
}

TEST_F(errors_test, wrong_typed_field_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  expect_error(*c, {{"type", "send"}, {"room", "dm:alice:bob"}, {"text", 42}, {"cid", "w1"}},
               "bad_request", "w1");
  expect_error(*c, {{"type", "join"}, {"room", 5}}, "bad_request", "join");
  expect_error(*c, {{"type", "join"}, {"room", "dm:alice:bob"}, {"since", "zero"}}, "bad_request",
               "join");
  expect_error(*c, {{"type", "history"}, {"room", "dm:alice:bob"}, {"limit", "ten"}}, "bad_request",
               "history");
  expect_error(*c, {{"type", "read"}, {"room", "dm:alice:bob"}, {"seq", "1"}}, "bad_request",
               "read");
  expect_still_open(*c);
}

TEST_F(errors_test, invalid_room_id_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  expect_error(*c, {{"type", "join"}, {"room", "nonsense"}}, "bad_request", "join");
  expect_error(*c, {{"type", "join"}, {"room", "g:"}}, "bad_request", "join");
  expect_error(*c, {{"type", "send"}, {"room", "g:bad!id"}, {"text", "x"}, {"cid", "i1"}},
               "bad_request", "i1");
  expect_error(*c, {{"type", "history"}, {"room", "dm:alice"}}, "bad_request", "history");
  expect_still_open(*c);
}

TEST_F(errors_test, non_canonical_direct_room_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  expect_error(*c, {{"type", "send"}, {"room", "dm:bob:alice"}, {"text", "x"}, {"cid", "n1"}},
               "bad_request", "n1");
  expect_error(*c, {{"type", "join"}, {"room", "dm:bob:alice"}}, "bad_request", "join");
  expect_still_open(*c);
}

TEST_F(errors_test, invalid_cid_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  // cid is 1 to 64 bytes (section 4).
  c->send(
      {{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "x"}, {"cid", std::string(65, 'c')}});
  EXPECT_EQ(str(expect_next(*c, "error"), "code"), "bad_request");
  c->send({{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "x"}, {"cid", ""}});
  EXPECT_EQ(str(expect_next(*c, "error"), "code"), "bad_request");
  expect_still_open(*c);
}

// U+0000 in a text, a cid or a room name: bad_request (PostgreSQL cannot store it, so no
// backend does), nothing stored, the connection stays open.
TEST_F(errors_test, nul_character_is_refused) {
  ASSERT_TRUE(start());
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  expect_next(*c, "joined");
  expect_next(*c, "history");
  expect_error(*c, {{"type", "send"}, {"text", std::string("a\0b", 3)}, {"cid", "n1"}},
               "bad_request", "n1");
  c->send({{"type", "send"}, {"text", "x"}, {"cid", std::string("n\0", 2)}});
  EXPECT_EQ(str(expect_next(*c, "error"), "code"), "bad_request");
  expect_still_open(*c);
  c->send({{"type", "send"}, {"text", "fine"}, {"cid", "n2"}});
  EXPECT_EQ(num(expect_next(*c, "ack"), "seq"), 1) << "the refused sends must not be stored";

  json::object msg{{"text", std::string("a\0b", 3)}};
  auto r = http("alice", "POST", "/api/rooms/dm:alice:bob/messages", json::serialize(msg));
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("U+0000"), std::string::npos) << r.body;
  json::object room{{"name", std::string("a\0b", 3)}};
  r = http("alice", "POST", "/api/rooms", json::serialize(room));
  EXPECT_EQ(r.status, 400) << r.body;
}

TEST_F(errors_test, not_member_for_foreign_or_missing_rooms) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "private", {"bob"});
  ASSERT_FALSE(g.empty());
  auto c = connect("carol");
  ASSERT_TRUE(c);
  expect_error(*c, {{"type", "send"}, {"room", g}, {"text", "let me in"}, {"cid", "c1"}},
               "not_member", "c1");
  expect_error(*c, {{"type", "join"}, {"room", g}}, "not_member", "join");
  expect_error(*c, {{"type", "history"}, {"room", g}}, "not_member", "history");
  expect_error(*c, {{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "x"}, {"cid", "c2"}},
               "not_member", "c2");
  expect_error(*c, {{"type", "join"}, {"room", "dm:alice:bob"}}, "not_member", "join");
  // No such room: the same answer.
  expect_error(*c, {{"type", "join"}, {"room", "g:doesnotexist"}}, "not_member", "join");
  expect_error(*c, {{"type", "send"}, {"room", "g:doesnotexist"}, {"text", "x"}, {"cid", "c3"}},
               "not_member", "c3");
  expect_still_open(*c);
  // Nothing leaked into the room.
  auto r = http("alice", "GET", "/api/rooms/" + g + "/messages");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body.find("let me in"), std::string::npos) << r.body;
}

TEST_F(errors_test, too_large_text_keeps_connection_open) {
  ASSERT_TRUE(start({"--max-text-bytes", "100"}));
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  expect_next(*c, "joined");
  expect_next(*c, "history");
  expect_error(*c, {{"type", "send"}, {"text", std::string(101, 'x')}, {"cid", "big"}}, "too_large",
               "big");
  // UTF-8 bytes count, not characters: 51 x U+00E9 is 102 bytes.
  std::string accents;
  for (int i = 0; i < 51; ++i) accents += "\xC3\xA9";
  expect_error(*c, {{"type", "send"}, {"text", accents}, {"cid", "big2"}}, "too_large", "big2");
  expect_still_open(*c);
  // Exactly the limit is fine.
  c->send({{"type", "send"}, {"text", std::string(100, 'y')}, {"cid", "fits"}});
  auto ack = expect_next(*c, "ack");
  EXPECT_EQ(num(ack, "seq"), 1) << "the refused sends must not be stored";
  // Plain text over the limit: too_large too, ref null.
  c->send_text(std::string(101, 'z'));
  auto err = expect_frame(*c, "error");
  EXPECT_EQ(str(err, "code"), "too_large");
  EXPECT_TRUE(is_null(err, "ref")) << dump(err);
  EXPECT_TRUE(c->ws->is_open());
}

TEST_F(errors_test, rate_limited_sends_are_not_stored) {
  ASSERT_TRUE(start({"--send-rate", "2"}));
  auto c = connect("alice");
  ASSERT_TRUE(c);
  constexpr int k_n = 15;
  for (int i = 0; i < k_n; ++i) {
    c->send({{"type", "send"},
             {"room", "dm:alice:bob"},
             {"text", "spam " + std::to_string(i)},
             {"cid", "s" + std::to_string(i)}});
  }
  std::vector<std::string> acked;
  int limited = 0;
  // Each send gets exactly one answer: an ack or a rate_limited error with ref = cid.
  int answers = 0;
  while (answers < k_n) {
    auto f = next_frame(*c);
    ASSERT_TRUE(f) << c->transcript();
    if (str(*f, "type") == "ack") {
      acked.push_back(str(*f, "cid"));
      ++answers;
    } else if (str(*f, "type") == "error") {
      EXPECT_EQ(str(*f, "code"), "rate_limited") << dump(*f);
      EXPECT_EQ(str(*f, "ref").substr(0, 1), "s") << dump(*f);
      ++limited;
      ++answers;
    }
  }
  EXPECT_GE(limited, 1);
  EXPECT_GE(acked.size(), 1u);
  // Burst is at most 2 x send_rate, plus what refills during the test.
  EXPECT_LE(acked.size(), 8u);
  // Only the acked messages were stored.
  c->send({{"type", "history"}, {"room", "dm:alice:bob"}});
  auto h = expect_frame(*c, "history");
  EXPECT_EQ(arr(h, "messages").size(), acked.size()) << dump(h);
  // Retrying an acked cid does not count against the (exhausted) limit.
  c->send({{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "again"}, {"cid", acked[0]}});
  for (;;) {
    auto f = next_frame(*c);
    ASSERT_TRUE(f) << c->transcript();
    if (str(*f, "type") == "notify") continue;
    EXPECT_EQ(str(*f, "type"), "ack") << "a repeat must not be rate limited: " << dump(*f);
    EXPECT_EQ(str(*f, "cid"), acked[0]) << dump(*f);
    break;
  }
}

TEST_F(errors_test, other_frames_have_their_own_rate_limit) {
  ASSERT_TRUE(start({"--frame-rate", "5"}));
  auto c = connect("alice");
  ASSERT_TRUE(c);
  constexpr int k_n = 30;
  for (int i = 0; i < k_n; ++i) c->send({{"type", "ping"}, {"rid", std::to_string(i)}});
  int pongs = 0, limited = 0;
  for (int i = 0; i < k_n; ++i) {
    auto f = next_frame(*c);
    ASSERT_TRUE(f) << c->transcript();
    if (str(*f, "type") == "pong") ++pongs;
    if (str(*f, "type") == "error") {
      EXPECT_EQ(str(*f, "code"), "rate_limited") << dump(*f);
      EXPECT_EQ(str(*f, "ref"), "ping") << dump(*f);
      ++limited;
    }
  }
  EXPECT_GE(pongs, 1);
  EXPECT_GE(limited, 1);
  // Sends use their own bucket.
  c->send({{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "x"}, {"cid", "x"}});
  EXPECT_EQ(str(expect_frame(*c, "ack"), "cid"), "x");
}

TEST_F(errors_test, rid_is_echoed_in_every_answer) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  c->send({{"type", "join"}, {"room", "dm:alice:bob"}, {"rid", "r-join"}});
  EXPECT_EQ(str(expect_next(*c, "joined"), "rid"), "r-join");
  EXPECT_EQ(str(expect_next(*c, "history"), "rid"), "r-join");
  c->send(
      {{"type", "send"}, {"text", "x"}, {"room", "dm:alice:bob"}, {"cid", "c"}, {"rid", "r-send"}});
  EXPECT_EQ(str(expect_next(*c, "ack"), "rid"), "r-send");
  expect_next(*c, "message");
  c->send({{"type", "history"}, {"room", "dm:alice:bob"}, {"rid", "r-hist"}});
  EXPECT_EQ(str(expect_next(*c, "history"), "rid"), "r-hist");
  c->send({{"type", "ping"}, {"rid", "r-ping"}});
  EXPECT_EQ(str(expect_next(*c, "pong"), "rid"), "r-ping");
  c->send({{"type", "join"}, {"room", "nonsense"}, {"rid", "r-err"}});
  EXPECT_EQ(str(expect_next(*c, "error"), "rid"), "r-err");
  c->send({{"type", "leave"}, {"room", "dm:alice:bob"}, {"rid", "r-leave"}});
  auto left = expect_next(*c, "left");
  EXPECT_EQ(str(left, "rid"), "r-leave");
  EXPECT_EQ(str(left, "room"), "dm:alice:bob");
}

TEST_F(errors_test, ping_answered_with_server_time) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  const std::int64_t before = unix_ms();
  c->send({{"type", "ping"}});
  auto p = expect_next(*c, "pong");
  const std::int64_t after = unix_ms();
  EXPECT_GE(num(p, "server_time"), before - 5000) << dump(p);
  EXPECT_LE(num(p, "server_time"), after + 5000) << dump(p);
}

TEST_F(errors_test, more_than100_errors_in10s_closes1008) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  for (int i = 0; i < 105; ++i) c->send({{"type", "bogus"}});
  expect_closed(*c, 1008, 5s);
  int errors = 0;
  for (const auto& f : c->stash) errors += str(f, "type") == "error" ? 1 : 0;
  EXPECT_GE(errors, 100);
}

TEST_F(errors_test, lone_surrogate_in_json_string_is_bad_request) {
  ASSERT_TRUE(start());
  auto c = connect("alice");
  ASSERT_TRUE(c);
  // Valid UTF-8 on the wire, but the escape decodes to invalid UTF-8 (section 4 error codes).
  c->send_text(R"({"type":"send","room":"dm:alice:bob","text":"bad \ud800 text","cid":"u1"})");
  auto err = expect_next(*c, "error");
  EXPECT_EQ(str(err, "code"), "bad_request");
  // `ref` is not checked: a parser may reject the frame before it knows the cid.
  expect_still_open(*c);
  c->send({{"type", "history"}, {"room", "dm:alice:bob"}});
  EXPECT_TRUE(arr(expect_frame(*c, "history"), "messages").empty());
}

TEST_F(errors_test, invalid_utf8_text_frame_closes1007) {
  ASSERT_TRUE(start());
  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  c->send_text("bad \xFF\xFE utf8");
  expect_closed(*c, 1007);
}

}  // namespace
}  // namespace parley::itest
