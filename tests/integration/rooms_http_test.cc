// protocol.md section 6: the group room HTTP API and its WebSocket side effects (notify,
// left).
#include <algorithm>
#include <set>

#include "harness.h"

namespace parley::itest {
namespace {

json::value parse_body(const client::http_response& r) {
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  return ec ? json::value() : v;
}

// Member user ids of a room object; members may be strings or {"user":U} objects.
std::set<std::string> members_of(const json::object& room) {
  std::set<std::string> out;
  for (const auto& m : arr(room, "members")) {
    if (m.is_string()) out.insert(std::string(m.as_string()));
    if (m.is_object()) out.insert(str(m.as_object(), "user"));
  }
  return out;
}

bool is_2xx(int status) { return status >= 200 && status < 300; }

class rooms_test : public itest {
 protected:
  client::http_response add_member(std::string_view by, const std::string& room,
                                   std::string_view user) {
    return http(by, "POST", "/api/rooms/" + room + "/members",
                json::serialize(json::object{{"user", user}}));
  }
  client::http_response remove_member(std::string_view by, const std::string& room,
                                      std::string_view user) {
    return http(by, "DELETE", "/api/rooms/" + room + "/members/" + std::string(user));
  }
  json::object get_messages(std::string_view user, const std::string& room,
                            const std::string& query, int* status = nullptr) {
    auto r = http(user, "GET", "/api/rooms/" + room + "/messages" + query);
    if (status) *status = r.status;
    auto v = parse_body(r);
    return v.is_object() ? v.as_object() : json::object{};
  }
};

TEST_F(rooms_test, create_list_get) {
  ASSERT_TRUE(start());
  auto r = http("alice", "POST", "/api/rooms", R"({"name":"team","members":["bob","carol"]})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto v = parse_body(r);
  ASSERT_TRUE(v.is_object()) << r.body;
  const auto& room = v.as_object();
  const std::string id = str(room, "id");
  EXPECT_EQ(id.rfind("g:", 0), 0u) << r.body;
  EXPECT_GE(id.size(), 3u);
  EXPECT_LE(id.size(), 66u);
  EXPECT_EQ(str(room, "name"), "team");
  EXPECT_EQ(members_of(room), (std::set<std::string>{"alice", "bob", "carol"})) << r.body;

  auto list = http("bob", "GET", "/api/rooms");
  ASSERT_EQ(list.status, 200) << list.body;
  auto lv = parse_body(list);
  ASSERT_TRUE(lv.is_array()) << list.body;
  bool found = false;
  for (const auto& e : lv.as_array()) {
    if (!e.is_object() || str(e.as_object(), "id") != id) continue;
    found = true;
    EXPECT_EQ(str(e.as_object(), "name"), "team");
    EXPECT_EQ(num(e.as_object(), "last_seq"), 0);
    EXPECT_EQ(num(e.as_object(), "read_seq"), 0);
  }
  EXPECT_TRUE(found) << list.body;
  // Not in an outsider's list.
  auto other = http("dave", "GET", "/api/rooms");
  ASSERT_EQ(other.status, 200) << other.body;
  EXPECT_EQ(other.body.find(id), std::string::npos) << other.body;

  auto one = http("carol", "GET", "/api/rooms/" + id);
  ASSERT_EQ(one.status, 200) << one.body;
  auto ov = parse_body(one);
  ASSERT_TRUE(ov.is_object()) << one.body;
  EXPECT_EQ(str(ov.as_object(), "id"), id);
  EXPECT_EQ(members_of(ov.as_object()), (std::set<std::string>{"alice", "bob", "carol"}));
}

TEST_F(rooms_test, non_members_get404) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "secret", {"bob"});
  ASSERT_FALSE(g.empty());
  EXPECT_EQ(http("dave", "GET", "/api/rooms/" + g).status, 404);
  EXPECT_EQ(http("dave", "GET", "/api/rooms/g:doesnotexist").status, 404);
  EXPECT_EQ(http("dave", "GET", "/api/rooms/" + g + "/messages").status, 404);
  EXPECT_EQ(
      http("dave", "POST", "/api/rooms/" + g + "/messages", R"({"text":"hi","cid":"d"})").status,
      404);
  EXPECT_EQ(add_member("dave", g, "eve").status, 404);
  EXPECT_EQ(remove_member("dave", g, "bob").status, 404);
  // Nothing was posted.
  auto page = get_messages("alice", g, "");
  EXPECT_TRUE(arr(page, "messages").empty()) << dump(page);
}

TEST_F(rooms_test, api_needs_bearer_token) {
  ASSERT_TRUE(start());
  auto r = client::http_request(server().http_base(), "GET", "/api/rooms");
  EXPECT_EQ(r.status, 401) << r.body;
  auto v = parse_body(r);
  ASSERT_TRUE(v.is_object()) << r.body;
  EXPECT_EQ(str(v.as_object(), "error"), "unauthorized");
  auto bad = client::http_request(server().http_base(), "POST", "/api/rooms",
                                  R"({"name":"x","members":[]})", std::string("not-a-jwt"));
  EXPECT_EQ(bad.status, 401) << bad.body;
}

TEST_F(rooms_test, create_with_bad_body_is400) {
  ASSERT_TRUE(start());
  EXPECT_EQ(http("alice", "POST", "/api/rooms", "{not json").status, 400);
  EXPECT_EQ(http("alice", "POST", "/api/rooms", R"({"name":"x","members":"bob"})").status, 400);
  EXPECT_EQ(http("alice", "POST", "/api/rooms", R"({"name":"x","members":["bad user"]})").status,
            400);
}

TEST_F(rooms_test, member_permissions) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "perm", {"bob"});
  ASSERT_FALSE(g.empty());
  // Any member may add.
  auto r = add_member("bob", g, "carol");
  EXPECT_TRUE(is_2xx(r.status)) << r.status << " " << r.body;
  EXPECT_EQ(http("carol", "GET", "/api/rooms/" + g).status, 200);
  // A non-creator may not remove somebody else.
  r = remove_member("carol", g, "bob");
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_EQ(http("bob", "GET", "/api/rooms/" + g).status, 200);
  // A user may remove themself.
  r = remove_member("carol", g, "carol");
  EXPECT_TRUE(is_2xx(r.status)) << r.status << " " << r.body;
  EXPECT_EQ(http("carol", "GET", "/api/rooms/" + g).status, 404);
  // The creator may remove anyone.
  r = remove_member("alice", g, "bob");
  EXPECT_TRUE(is_2xx(r.status)) << r.status << " " << r.body;
  EXPECT_EQ(http("bob", "GET", "/api/rooms/" + g).status, 404);
  auto one = http("alice", "GET", "/api/rooms/" + g);
  ASSERT_EQ(one.status, 200);
  auto v = parse_body(one);
  ASSERT_TRUE(v.is_object());
  EXPECT_EQ(members_of(v.as_object()), (std::set<std::string>{"alice"}));
}

TEST_F(rooms_test, messages_page_backwards_and_forwards) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "paging", {"bob"});
  ASSERT_FALSE(g.empty());
  auto bot = connect("alice");
  ASSERT_TRUE(bot);
  auto acks = seed(*bot, g, 10, "p");
  ASSERT_EQ(acks.size(), 10u);
  auto seqs = [](const json::object& page) {
    std::vector<std::int64_t> out;
    for (const auto& m : arr(page, "messages")) {
      out.push_back(m.is_object() ? num(m.as_object(), "seq") : -1);
    }
    return out;
  };
  int status = 0;
  auto p = get_messages("bob", g, "?limit=3", &status);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(seqs(p), (std::vector<std::int64_t>{8, 9, 10})) << dump(p);
  EXPECT_TRUE(boolean(p, "more")) << dump(p);
  p = get_messages("bob", g, "?before=5&limit=2");
  EXPECT_EQ(seqs(p), (std::vector<std::int64_t>{3, 4})) << dump(p);
  EXPECT_TRUE(boolean(p, "more")) << dump(p);
  p = get_messages("bob", g, "?before=3");
  EXPECT_EQ(seqs(p), (std::vector<std::int64_t>{1, 2})) << dump(p);
  EXPECT_FALSE(boolean(p, "more", true)) << dump(p);
  p = get_messages("bob", g, "?after=3&limit=4");
  EXPECT_EQ(seqs(p), (std::vector<std::int64_t>{4, 5, 6, 7})) << dump(p);
  EXPECT_TRUE(boolean(p, "more")) << dump(p);
  p = get_messages("bob", g, "?after=7&limit=10");
  EXPECT_EQ(seqs(p), (std::vector<std::int64_t>{8, 9, 10})) << dump(p);
  EXPECT_FALSE(boolean(p, "more", true)) << dump(p);
  // Message objects as in the history frame.
  p = get_messages("bob", g, "?after=0&limit=1");
  ASSERT_EQ(arr(p, "messages").size(), 1u) << dump(p);
  const auto& m = arr(p, "messages")[0].as_object();
  EXPECT_EQ(str(m, "room"), g);
  EXPECT_EQ(str(m, "from"), "alice");
  EXPECT_EQ(str(m, "text"), "p 0");
  EXPECT_EQ(str(m, "cid"), "p-0");
  EXPECT_EQ(str(m, "id"), str(acks[0], "id"));
  EXPECT_EQ(num(m, "ts"), num(acks[0], "ts"));
}

TEST_F(rooms_test, post_message_is201_with_ack_and_reaches_sockets) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "bots", {"bob"});
  ASSERT_FALSE(g.empty());
  auto bob = connect("bob", "room=" + enc(g));
  ASSERT_TRUE(bob);
  expect_next(*bob, "joined");
  expect_next(*bob, "history");

  auto r =
      http("alice", "POST", "/api/rooms/" + g + "/messages", R"({"text":"from http","cid":"h1"})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto v = parse_body(r);
  ASSERT_TRUE(v.is_object()) << r.body;
  const auto& ack = v.as_object();
  EXPECT_EQ(str(ack, "cid"), "h1") << r.body;
  EXPECT_EQ(str(ack, "room"), g) << r.body;
  EXPECT_EQ(num(ack, "seq"), 1) << r.body;
  EXPECT_FALSE(str(ack, "id").empty()) << r.body;
  EXPECT_GT(num(ack, "ts"), 0) << r.body;

  auto m = expect_next(*bob, "message");
  EXPECT_EQ(str(m, "text"), "from http");
  EXPECT_EQ(str(m, "from"), "alice");
  EXPECT_EQ(str(m, "id"), str(ack, "id"));

  // The same cid again: the original ack, nothing new.
  auto again =
      http("alice", "POST", "/api/rooms/" + g + "/messages", R"({"text":"from http","cid":"h1"})");
  EXPECT_TRUE(is_2xx(again.status)) << again.status << " " << again.body;
  auto av = parse_body(again);
  ASSERT_TRUE(av.is_object()) << again.body;
  EXPECT_EQ(num(av.as_object(), "seq"), 1);
  EXPECT_EQ(str(av.as_object(), "id"), str(ack, "id"));
  assert_no_frame(*bob, "message");

  // Missing text: 400.
  EXPECT_EQ(http("alice", "POST", "/api/rooms/" + g + "/messages", R"({"cid":"h2"})").status, 400);
}

TEST_F(rooms_test, add_and_remove_notify_and_removed_connection_gets_left) {
  ASSERT_TRUE(start());
  std::string g = create_room("alice", "club", {"bob"});
  ASSERT_FALSE(g.empty());
  auto carol_joined = connect("carol");
  auto carol_idle = connect("carol");
  auto bob = connect("bob", "room=" + enc(g));
  ASSERT_TRUE(carol_joined && carol_idle && bob);
  expect_next(*bob, "joined");
  expect_next(*bob, "history");

  ASSERT_TRUE(is_2xx(add_member("alice", g, "carol").status));
  for (auto* c : {carol_joined.get(), carol_idle.get()}) {
    auto n = expect_next(*c, "notify");
    EXPECT_EQ(str(n, "room"), g);
    EXPECT_EQ(str(n, "event"), "added");
  }
  carol_joined->send({{"type", "join"}, {"room", g}});
  expect_next(*carol_joined, "joined");
  expect_next(*carol_joined, "history");

  // A message while carol is a member: the joined connection gets it, the other a notify.
  auto r =
      http("alice", "POST", "/api/rooms/" + g + "/messages", R"({"text":"welcome","cid":"w"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(str(expect_next(*carol_joined, "message"), "text"), "welcome");
  auto n = expect_next(*carol_idle, "notify");
  EXPECT_EQ(str(n, "event"), "message");
  EXPECT_EQ(num(n, "seq"), 1);
  EXPECT_EQ(str(n, "from"), "alice");
  expect_next(*bob, "message");

  ASSERT_TRUE(is_2xx(remove_member("alice", g, "carol").status));
  auto left = expect_next(*carol_joined, "left");
  EXPECT_EQ(str(left, "room"), g);
  EXPECT_EQ(str(left, "reason"), "removed");
  auto rn = expect_next(*carol_idle, "notify");
  EXPECT_EQ(str(rn, "room"), g);
  EXPECT_EQ(str(rn, "event"), "removed");

  // Nothing more of the room reaches carol.
  r = http("alice", "POST", "/api/rooms/" + g + "/messages", R"({"text":"gone","cid":"g2"})");
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(str(expect_next(*bob, "message"), "text"), "gone");
  assert_no_frame(*carol_joined, "message");
  assert_no_frame(*carol_joined, "notify", 0ms);
  assert_no_frame(*carol_idle, "notify", 0ms);
  assert_no_frame(*carol_idle, "message", 0ms);
  // And she can no longer write or join.
  carol_joined->send({{"type", "send"}, {"room", g}, {"text", "hey"}, {"cid", "c"}});
  EXPECT_EQ(str(expect_next(*carol_joined, "error"), "code"), "not_member");
  carol_joined->send({{"type", "join"}, {"room", g}});
  EXPECT_EQ(str(expect_next(*carol_joined, "error"), "code"), "not_member");
}

TEST_F(rooms_test, post_message_limits_map_to413_and429) {
  ASSERT_TRUE(start({"--max-text-bytes", "100", "--send-rate", "1"}));
  std::string g = create_room("alice", "limits", {});
  ASSERT_FALSE(g.empty());
  auto big = http("alice", "POST", "/api/rooms/" + g + "/messages",
                  json::serialize(json::object{{"text", std::string(101, 'x')}, {"cid", "big"}}));
  EXPECT_EQ(big.status, 413) << big.body;
  int created = 0, limited = 0;
  for (int i = 0; i < 6; ++i) {
    auto r = http("alice", "POST", "/api/rooms/" + g + "/messages",
                  json::serialize(json::object{{"text", "t"}, {"cid", "r" + std::to_string(i)}}));
    if (r.status == 201) ++created;
    if (r.status == 429) ++limited;
  }
  EXPECT_GE(created, 1);
  EXPECT_GE(limited, 1);
  auto page = get_messages("alice", g, "");
  EXPECT_EQ(arr(page, "messages").size(), static_cast<std::size_t>(created)) << dump(page);
}

TEST_F(rooms_test, direct_room_listed_only_once_it_has_a_message) {
  ASSERT_TRUE(start());
  auto a = connect("alice", "receiverId=bob");
  ASSERT_TRUE(a);
  expect_next(*a, "joined");
  expect_next(*a, "history");
  auto before = http("alice", "GET", "/api/rooms");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(before.body.find("dm:alice:bob"), std::string::npos) << before.body;
  a->send({{"type", "send"}, {"text", "hi"}, {"cid", "1"}});
  expect_next(*a, "ack");
  for (std::string user : {"alice", "bob"}) {
    auto after = http(user, "GET", "/api/rooms");
    ASSERT_EQ(after.status, 200) << after.body;
    EXPECT_NE(after.body.find("dm:alice:bob"), std::string::npos) << user << ": " << after.body;
  }
  EXPECT_EQ(http("carol", "GET", "/api/rooms").body.find("dm:alice:bob"), std::string::npos);
}

}  // namespace
}  // namespace parley::itest
