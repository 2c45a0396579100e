// protocol.md section 2: hello, joins through receiverId / room, refusals before upgrade.
#include "harness.h"
#include "raw_jwt.h"

namespace parley::itest {
namespace {

class connect_test : public itest {
 protected:
  // Connecting `user` with `query` must be refused with `status` and error `code`.
  void expect_refused(std::string_view user, const std::string& query, int status,
                      std::string_view code) {
    SCOPED_TRACE("query: " + query);
    client::connect_error err;
    auto ws = raw_connect(ws_url(token(user), query), {}, &err);
    ASSERT_EQ(ws, nullptr) << "upgrade accepted";
    EXPECT_EQ(err.http_status, status) << err.body;
    boost::system::error_code ec;
    auto v = json::parse(err.body, ec);
    ASSERT_FALSE(ec) << "body is not JSON: " << err.body;
    ASSERT_TRUE(v.is_object()) << err.body;
    EXPECT_EQ(str(v.as_object(), "error"), code) << err.body;
  }
};

TEST_F(connect_test, hello_fields) {
  ASSERT_TRUE(start());
  const std::int64_t before = unix_ms();
  auto c = connect("alice");
  ASSERT_TRUE(c);
  const std::int64_t after = unix_ms();
  const auto& h = c->hello;
  EXPECT_EQ(str(h, "user"), "alice") << dump(h);
  EXPECT_FALSE(str(h, "session").empty()) << dump(h);
  EXPECT_EQ(str(h, "node"), "n1") << dump(h);
  EXPECT_EQ(num(h, "protocol"), 1) << dump(h);
  EXPECT_GE(num(h, "server_time"), before - 5000) << dump(h);
  EXPECT_LE(num(h, "server_time"), after + 5000) << dump(h);
  // Nothing else without a default room.
  assert_no_frame(*c, "joined", 200ms);
  EXPECT_TRUE(c->stash.empty()) << c->transcript();
}

TEST_F(connect_test, session_ids_differ) {
  ASSERT_TRUE(start());
  auto a = connect("alice");
  auto b = connect("alice");
  ASSERT_TRUE(a && b);
  EXPECT_NE(str(a->hello, "session"), str(b->hello, "session"));
}

TEST_F(connect_test, receiver_id_joins_empty_direct_room) {
  ASSERT_TRUE(start());
  auto c = connect("bob", "receiverId=alice");
  ASSERT_TRUE(c);
  auto j = expect_next(*c, "joined");
  EXPECT_EQ(str(j, "room"), "dm:alice:bob");
  EXPECT_EQ(num(j, "last_seq"), 0);
  EXPECT_EQ(num(j, "read_seq"), 0);
  auto h = expect_next(*c, "history");
  EXPECT_EQ(str(h, "room"), "dm:alice:bob");
  EXPECT_TRUE(arr(h, "messages").empty()) << dump(h);
  EXPECT_FALSE(boolean(h, "more", true)) << dump(h);
}

TEST_F(connect_test, receiver_id_join_replays_history) {
  ASSERT_TRUE(start());
  auto bot = connect("bob");
  ASSERT_TRUE(bot);
  auto acks = seed(*bot, "dm:alice:bob", 3, "hi");
  ASSERT_EQ(acks.size(), 3u);

  auto c = connect("alice", "receiverId=bob");
  ASSERT_TRUE(c);
  auto j = expect_next(*c, "joined");
  EXPECT_EQ(str(j, "room"), "dm:alice:bob");
  EXPECT_EQ(num(j, "last_seq"), 3);
  auto h = expect_next(*c, "history");
  EXPECT_FALSE(boolean(h, "more", true)) << dump(h);
  const auto& msgs = arr(h, "messages");
  ASSERT_EQ(msgs.size(), 3u) << dump(h);
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(msgs[i].is_object());
    const auto& m = msgs[i].as_object();
    EXPECT_EQ(num(m, "seq"), static_cast<std::int64_t>(i + 1)) << dump(m);
    EXPECT_EQ(str(m, "room"), "dm:alice:bob") << dump(m);
    EXPECT_EQ(str(m, "from"), "bob") << dump(m);
    EXPECT_EQ(str(m, "text"), "hi " + std::to_string(i)) << dump(m);
    EXPECT_EQ(str(m, "cid"), "hi-" + std::to_string(i)) << dump(m);
    EXPECT_EQ(str(m, "id"), str(acks[i], "id")) << dump(m);
    EXPECT_EQ(num(m, "ts"), num(acks[i], "ts")) << dump(m);
    EXPECT_FALSE(m.contains("type")) << "history messages carry no type: " << dump(m);
  }
}

TEST_F(connect_test, room_param_joins_group) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "team", {"bob"});
  ASSERT_FALSE(g.empty());
  auto c = connect("bob", "room=" + enc(g));
  ASSERT_TRUE(c);
  auto j = expect_next(*c, "joined");
  EXPECT_EQ(str(j, "room"), g);
  EXPECT_EQ(num(j, "last_seq"), 0);
  auto h = expect_next(*c, "history");
  EXPECT_EQ(str(h, "room"), g);
  // The default room is the group: a send without room lands there.
  c->send({{"type", "send"}, {"text", "to the team"}, {"cid", "c1"}});
  auto ack = expect_next(*c, "ack");
  EXPECT_EQ(str(ack, "room"), g);
}

TEST_F(connect_test, room_param_joins_direct_room) {
  ASSERT_TRUE(start());
  auto c = connect("alice", "room=dm:alice:bob");
  ASSERT_TRUE(c);
  auto j = expect_next(*c, "joined");
  EXPECT_EQ(str(j, "room"), "dm:alice:bob");
  expect_next(*c, "history");
}

TEST_F(connect_test, invalid_receiver_id_is400) {
  ASSERT_TRUE(start());
  expect_refused("alice", "receiverId=" + enc("has space"), 400, "bad_request");
  expect_refused("alice", "receiverId=" + enc("a:b"), 400, "bad_request");
  expect_refused("alice", "receiverId=" + std::string(129, 'x'), 400, "bad_request");
  expect_refused("alice", "receiverId=", 400, "bad_request");
}

TEST_F(connect_test, invalid_room_is400) {
  ASSERT_TRUE(start());
  expect_refused("alice", "room=nonsense", 400, "bad_request");
  expect_refused("alice", "room=g:", 400, "bad_request");
  expect_refused("alice", "room=" + enc("g:bad!id"), 400, "bad_request");
  expect_refused("alice", "room=" + enc("g:" + std::string(65, 'a')), 400, "bad_request");
  // Not in canonical order (section 3).
  expect_refused("alice", "room=dm:bob:alice", 400, "bad_request");
}

TEST_F(connect_test, room_not_member_is403) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "private", {"bob"});
  ASSERT_FALSE(g.empty());
  expect_refused("carol", "room=" + enc(g), 403, "forbidden");
  // No such room: indistinguishable from not a member.
  expect_refused("carol", "room=g:doesnotexist", 403, "forbidden");
  // Somebody else's direct room.
  expect_refused("carol", "room=dm:alice:bob", 403, "forbidden");
}

}  // namespace
}  // namespace parley::itest
