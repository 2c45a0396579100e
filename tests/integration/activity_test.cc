// protocol.md section 4: read markers and typing.
#include "harness.h"

namespace parley::itest {
namespace {

class activity_test : public itest {
 protected:
  // 5 messages from bob in dm:alice:bob, then two devices of alice and one of bob joined.
  void setup() {
    ASSERT_TRUE(start());
    auto bot = connect("bob");
    ASSERT_TRUE(bot);
    ASSERT_EQ(seed(*bot, dm_, 5, "m").size(), 5u);
    a1_ = join_dm("alice");
    a2_ = join_dm("alice");
    b_ = join_dm("bob");
    ASSERT_TRUE(a1_ && a2_ && b_);
  }
  std::unique_ptr<conn> join_dm(std::string_view user, json::object* joined = nullptr) {
    auto c = connect(user, user == "alice" ? "receiverId=bob" : "receiverId=alice");
    if (!c) return nullptr;
    auto j = expect_next(*c, "joined");
    if (joined) *joined = j;
    expect_next(*c, "history");
    return c;
  }
  std::int64_t stored_read_seq(std::string_view user) {
    json::object joined;
    auto c = join_dm(user, &joined);
    return c ? num(joined, "read_seq") : -2;
  }
  const std::string dm_ = "dm:alice:bob";
  std::unique_ptr<conn> a1_, a2_, b_;
};

TEST_F(activity_test, read_marker_is_broadcast_to_other_connections_including_own_devices) {
  ASSERT_NO_FATAL_FAILURE(setup());
  a1_->send({{"type", "read"}, {"room", dm_}, {"seq", 3}});
  for (auto* c : {a2_.get(), b_.get()}) {
    auto r = expect_next(*c, "read");
    EXPECT_EQ(str(r, "room"), dm_);
    EXPECT_EQ(str(r, "user"), "alice");
    EXPECT_EQ(num(r, "seq"), 3);
  }
  assert_no_frame(*a1_, "read");
  EXPECT_EQ(stored_read_seq("alice"), 3);
  EXPECT_EQ(stored_read_seq("bob"), 0);
}

TEST_F(activity_test, read_marker_never_moves_backwards) {
  ASSERT_NO_FATAL_FAILURE(setup());
  a1_->send({{"type", "read"}, {"room", dm_}, {"seq", 4}});
  expect_next(*a2_, "read");
  a1_->send({{"type", "read"}, {"room", dm_}, {"seq", 2}});
  // Whether or not a no-op is broadcast, the stored marker stays at 4.
  a1_->send({{"type", "ping"}});
  expect_frame(*a1_, "pong");
  EXPECT_EQ(stored_read_seq("alice"), 4);
  auto r = http("alice", "GET", "/api/rooms");
  ASSERT_EQ(r.status, 200) << r.body;
  auto v = json::parse(r.body);
  ASSERT_TRUE(v.is_array()) << r.body;
  bool found = false;
  for (const auto& room : v.as_array()) {
    if (!room.is_object() || str(room.as_object(), "id") != dm_) continue;
    found = true;
    EXPECT_EQ(num(room.as_object(), "read_seq"), 4) << r.body;
    EXPECT_EQ(num(room.as_object(), "last_seq"), 5) << r.body;
  }
  EXPECT_TRUE(found) << "direct room with messages missing from GET /api/rooms: " << r.body;
}

TEST_F(activity_test, read_marker_is_clamped_to_last_seq) {
  ASSERT_NO_FATAL_FAILURE(setup());
  a1_->send({{"type", "read"}, {"room", dm_}, {"seq", 99}});
  auto r = expect_next(*b_, "read");
  EXPECT_EQ(num(r, "seq"), 5) << "the broadcast carries the clamped value";
  EXPECT_EQ(stored_read_seq("alice"), 5);
}

TEST_F(activity_test, read_of_foreign_room_is_not_member) {
  ASSERT_NO_FATAL_FAILURE(setup());
  auto carol = connect("carol");
  ASSERT_TRUE(carol);
  carol->send({{"type", "read"}, {"room", dm_}, {"seq", 1}});
  EXPECT_EQ(str(expect_next(*carol, "error"), "code"), "not_member");
  assert_no_frame(*b_, "read", 100ms);
}

TEST_F(activity_test, typing_goes_to_others_only_and_is_not_stored) {
  ASSERT_NO_FATAL_FAILURE(setup());
  a1_->send({{"type", "typing"}, {"room", dm_}});
  auto t = expect_next(*b_, "typing");
  EXPECT_EQ(str(t, "room"), dm_);
  EXPECT_EQ(str(t, "user"), "alice");
  assert_no_frame(*a1_, "typing");
  // Not a message.
  b_->send({{"type", "history"}, {"room", dm_}});
  EXPECT_EQ(arr(expect_frame(*b_, "history"), "messages").size(), 5u);
  assert_no_frame(*b_, "message", 0ms);
}

}  // namespace
}  // namespace parley::itest
