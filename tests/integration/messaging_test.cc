// protocol.md sections 3 and 4: direct messages, exactly-once delivery, ack ordering, cid
// idempotency, notify, the plain-text seed form.
#include <set>

#include "harness.h"
#include "raw_jwt.h"

namespace parley::itest {
namespace {

class messaging_test : public itest {
 protected:
  // alice and bob, each joined to their direct room through receiverId.
  void open_dm() {
    alice_ = connect("alice", "receiverId=bob");
    bob_ = connect("bob", "receiverId=alice");
    ASSERT_TRUE(alice_ && bob_);
    for (auto* c : {alice_.get(), bob_.get()}) {
      expect_next(*c, "joined");
      expect_next(*c, "history");
    }
  }
  std::unique_ptr<conn> alice_, bob_;
  const std::string dm_ = "dm:alice:bob";
};

TEST_F(messaging_test, direct_message_reaches_both_once_ack_first) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  const std::int64_t before = unix_ms();
  alice_->send({{"type", "send"}, {"text", "hello bob"}, {"cid", "a1"}});
  auto ack = expect_next(*alice_, "ack");
  EXPECT_EQ(str(ack, "cid"), "a1");
  EXPECT_EQ(str(ack, "room"), dm_);
  EXPECT_EQ(num(ack, "seq"), 1);
  EXPECT_FALSE(str(ack, "id").empty());
  EXPECT_GE(num(ack, "ts"), before - 5000);
  EXPECT_LE(num(ack, "ts"), unix_ms() + 5000);
  // The sender's own copy comes after its ack.
  auto own = expect_next(*alice_, "message");
  auto got = expect_next(*bob_, "message");
  for (const auto* m : {&own, &got}) {
    EXPECT_EQ(str(*m, "room"), dm_) << dump(*m);
    EXPECT_EQ(num(*m, "seq"), 1) << dump(*m);
    EXPECT_EQ(str(*m, "id"), str(ack, "id")) << dump(*m);
    EXPECT_EQ(str(*m, "from"), "alice") << dump(*m);
    EXPECT_EQ(str(*m, "text"), "hello bob") << dump(*m);
    EXPECT_EQ(num(*m, "ts"), num(ack, "ts")) << dump(*m);
    EXPECT_EQ(str(*m, "cid"), "a1") << dump(*m);
  }
  // And back.
  bob_->send({{"type", "send"}, {"room", dm_}, {"text", "hi alice"}, {"cid", "b1"}});
  auto ack2 = expect_next(*bob_, "ack");
  EXPECT_EQ(num(ack2, "seq"), 2);
  expect_next(*bob_, "message");
  auto m2 = expect_next(*alice_, "message");
  EXPECT_EQ(str(m2, "text"), "hi alice");
  EXPECT_EQ(num(m2, "seq"), 2);
  // Exactly once.
  assert_no_frame(*alice_, "message");
  assert_no_frame(*bob_, "message", 50ms);
}

TEST_F(messaging_test, ack_precedes_own_copy_for_every_message) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  constexpr int k_n = 20;
  for (int i = 0; i < k_n; ++i) {
    alice_->send({{"type", "send"}, {"text", "m" + std::to_string(i)}, {"cid", std::to_string(i)}});
  }
  // For each of alice's messages, its ack arrives before its message copy.
  std::set<std::int64_t> acked;
  int messages = 0;
  while (messages < k_n) {
    auto f = next_frame(*alice_);
    ASSERT_TRUE(f) << alice_->transcript();
    if (str(*f, "type") == "ack") {
      acked.insert(num(*f, "seq"));
    } else if (str(*f, "type") == "message") {
      EXPECT_TRUE(acked.count(num(*f, "seq"))) << "message before its ack: " << dump(*f);
      ++messages;
    } else {
      ADD_FAILURE() << "unexpected frame " << dump(*f);
    }
  }
  EXPECT_EQ(acked.size(), static_cast<std::size_t>(k_n));
  auto got = collect_messages(*bob_, dm_, k_n);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(k_n));
  for (int i = 0; i < k_n; ++i) EXPECT_EQ(num(got[i], "seq"), i + 1);
}

TEST_F(messaging_test, third_user_does_not_leak_into_dm_but_notifies) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  auto carol = connect("carol", "receiverId=alice");
  ASSERT_TRUE(carol);
  auto j = expect_next(*carol, "joined");
  EXPECT_EQ(str(j, "room"), "dm:alice:carol");
  expect_next(*carol, "history");

  carol->send({{"type", "send"}, {"text", "psst alice"}, {"cid", "c1"}});
  auto ack = expect_next(*carol, "ack");
  EXPECT_EQ(str(ack, "room"), "dm:alice:carol");
  EXPECT_EQ(num(ack, "seq"), 1);
  expect_next(*carol, "message");

  // alice's connection joined dm:alice:bob only: a notify, not the message.
  auto n = expect_next(*alice_, "notify");
  EXPECT_EQ(str(n, "room"), "dm:alice:carol");
  EXPECT_EQ(str(n, "event"), "message");
  EXPECT_EQ(num(n, "seq"), 1);
  EXPECT_EQ(str(n, "from"), "carol");
  assert_no_frame(*alice_, "message");
  // bob sees nothing at all.
  assert_no_frame(*bob_, "message", 50ms);
  assert_no_frame(*bob_, "notify", 50ms);
  EXPECT_TRUE(bob_->stash.empty()) << bob_->transcript();
  // The DM between alice and bob is untouched.
  alice_->send({{"type", "send"}, {"text", "still ours"}, {"cid", "a1"}});
  EXPECT_EQ(num(expect_next(*alice_, "ack"), "seq"), 1);
  EXPECT_EQ(str(expect_next(*bob_, "message"), "text"), "still ours");
  assert_no_frame(*carol, "message", 100ms);
}

TEST_F(messaging_test, two_devices_of_one_user_each_get_each_message_once) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  auto alice2 = connect("alice", "receiverId=bob");
  ASSERT_TRUE(alice2);
  expect_next(*alice2, "joined");
  expect_next(*alice2, "history");

  bob_->send({{"type", "send"}, {"text", "to both devices"}, {"cid", "b1"}});
  expect_next(*bob_, "ack");
  expect_next(*bob_, "message");
  for (auto* c : {alice_.get(), alice2.get()}) {
    auto m = expect_next(*c, "message");
    EXPECT_EQ(str(m, "text"), "to both devices");
    EXPECT_EQ(num(m, "seq"), 1);
  }
  // A message from one device reaches the other device too (no ack there).
  alice_->send({{"type", "send"}, {"text", "from device 1"}, {"cid", "a1"}});
  expect_next(*alice_, "ack");
  EXPECT_EQ(num(expect_next(*alice_, "message"), "seq"), 2);
  EXPECT_EQ(num(expect_next(*alice2, "message"), "seq"), 2);
  EXPECT_EQ(num(expect_next(*bob_, "message"), "seq"), 2);
  for (auto* c : {alice_.get(), alice2.get(), bob_.get()}) {
    assert_no_frame(*c, "message", 150ms);
    assert_no_frame(*c, "ack", 0ms);
  }
}

TEST_F(messaging_test, retried_cid_returns_original_ack_and_no_second_message) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  alice_->send({{"type", "send"}, {"text", "once"}, {"cid", "dup-1"}});
  auto ack1 = expect_next(*alice_, "ack");
  expect_next(*alice_, "message");
  expect_next(*bob_, "message");

  alice_->send({{"type", "send"}, {"text", "once"}, {"cid", "dup-1"}});
  auto ack2 = expect_next(*alice_, "ack");
  EXPECT_EQ(num(ack2, "seq"), num(ack1, "seq"));
  EXPECT_EQ(str(ack2, "id"), str(ack1, "id"));
  EXPECT_EQ(str(ack2, "cid"), "dup-1");
  EXPECT_EQ(str(ack2, "room"), dm_);
  assert_no_frame(*alice_, "message");
  assert_no_frame(*bob_, "message", 50ms);

  // The repeat consumed no sequence number.
  alice_->send({{"type", "send"}, {"text", "next"}, {"cid", "dup-2"}});
  EXPECT_EQ(num(expect_next(*alice_, "ack"), "seq"), num(ack1, "seq") + 1);
  // Stored once.
  alice_->send({{"type", "history"}, {"room", dm_}});
  auto h = expect_frame(*alice_, "history");
  EXPECT_EQ(arr(h, "messages").size(), 2u) << dump(h);
}

TEST_F(messaging_test, same_cid_from_another_user_is_another_message) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  alice_->send({{"type", "send"}, {"text", "a"}, {"cid", "same"}});
  EXPECT_EQ(num(expect_next(*alice_, "ack"), "seq"), 1);
  bob_->send({{"type", "send"}, {"text", "b"}, {"cid", "same"}});
  EXPECT_EQ(num(expect_frame(*bob_, "ack"), "seq"), 2);
}

TEST_F(messaging_test, concurrent_first_use_of_a_direct_room) {
  ASSERT_TRUE(start());
  // Both members, two connections each, race to create the room's rows (section 3).
  std::vector<std::unique_ptr<conn>> conns;
  for (const char* u : {"alice", "alice", "bob", "bob"}) conns.push_back(connect(u));
  for (auto& c : conns) ASSERT_TRUE(c);
  constexpr int k_each = 5;
  for (int i = 0; i < k_each; ++i) {
    for (std::size_t k = 0; k < conns.size(); ++k) {
      conns[k]->send({{"type", "send"},
                      {"room", dm_},
                      {"text", "race"},
                      {"cid", std::to_string(k) + "-" + std::to_string(i)}});
    }
  }
  std::set<std::int64_t> seqs;
  for (auto& c : conns) {
    for (int i = 0; i < k_each; ++i) {
      auto ack = expect_frame(*c, "ack");
      ASSERT_FALSE(ack.empty());
      seqs.insert(num(ack, "seq"));
    }
    assert_no_frame(*c, "error", 0ms);
  }
  EXPECT_EQ(seqs.size(), conns.size() * k_each);
  EXPECT_EQ(*seqs.begin(), 1);
  EXPECT_EQ(*seqs.rbegin(), static_cast<std::int64_t>(conns.size() * k_each));
}

TEST_F(messaging_test, plain_text_frame_sends_to_default_room) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  alice_->send_text("hello in plain text");
  auto ack = expect_next(*alice_, "ack");
  EXPECT_TRUE(is_null(ack, "cid")) << dump(ack);
  EXPECT_EQ(str(ack, "room"), dm_);
  auto own = expect_next(*alice_, "message");
  EXPECT_EQ(str(own, "text"), "hello in plain text");
  auto m = expect_next(*bob_, "message");
  EXPECT_EQ(str(m, "text"), "hello in plain text");
  EXPECT_EQ(str(m, "from"), "alice");
  // Leading blanks before a non-'{' character: still plain text.
  alice_->send_text("  [not json]");
  EXPECT_EQ(num(expect_next(*alice_, "ack"), "seq"), 2);
  EXPECT_EQ(str(expect_next(*bob_, "message"), "text"), "  [not json]");
}

TEST_F(messaging_test, send_without_cid_has_null_cid) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  alice_->send({{"type", "send"}, {"text", "no cid"}});
  auto ack = expect_next(*alice_, "ack");
  EXPECT_TRUE(is_null(ack, "cid")) << dump(ack);
  auto m = expect_next(*bob_, "message");
  EXPECT_TRUE(is_null(m, "cid")) << dump(m);
}

TEST_F(messaging_test, send_to_direct_room_without_joining) {
  ASSERT_TRUE(start());
  auto bob = connect("bob", "receiverId=alice");
  ASSERT_TRUE(bob);
  expect_next(*bob, "joined");
  expect_next(*bob, "history");
  auto alice = connect("alice");
  ASSERT_TRUE(alice);
  alice->send({{"type", "send"}, {"room", dm_}, {"text", "first contact"}, {"cid", "x"}});
  auto ack = expect_next(*alice, "ack");
  EXPECT_EQ(num(ack, "seq"), 1);
  EXPECT_EQ(str(expect_next(*bob, "message"), "text"), "first contact");
  // alice's connection has not joined the room: no message copy there.
  assert_no_frame(*alice, "message");
}

TEST_F(messaging_test, notes_to_self) {
  ASSERT_TRUE(start());
  auto a = connect("alice", "receiverId=alice");
  ASSERT_TRUE(a);
  EXPECT_EQ(str(expect_next(*a, "joined"), "room"), "dm:alice:alice");
  expect_next(*a, "history");
  a->send({{"type", "send"}, {"text", "note"}, {"cid", "n"}});
  expect_next(*a, "ack");
  EXPECT_EQ(str(expect_next(*a, "message"), "text"), "note");
  assert_no_frame(*a, "message");
}

TEST_F(messaging_test, utf8_text_round_trips) {
  ASSERT_TRUE(start());
  ASSERT_NO_FATAL_FAILURE(open_dm());
  const std::string text = "h\xC3\xA9llo \xF0\x9F\x91\x8B \xE4\xB8\xAD\xE6\x96\x87";
  alice_->send({{"type", "send"}, {"text", text}, {"cid", "u"}});
  expect_next(*alice_, "ack");
  EXPECT_EQ(str(expect_next(*bob_, "message"), "text"), text);
}

}  // namespace
}  // namespace parley::itest
