// membership_cache: get/put/add/remove/forget, expiry, copy-on-write.
#include "chat/membership.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace parley::chat {
namespace {

using namespace std::chrono_literals;

TEST(membership_cache, unknown_room_is_null) {
  membership_cache c;
  EXPECT_EQ(c.get("g:x"), nullptr);
  EXPECT_EQ(c.get_stale("g:x"), nullptr);
}

TEST(membership_cache, put_then_get) {
  membership_cache c;
  c.put("g:x", {"alice", "bob"});
  auto m = c.get("g:x");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(*m, (member_set{"alice", "bob"}));
  EXPECT_EQ(c.get("g:y"), nullptr);
}

TEST(membership_cache, add_and_remove) {
  membership_cache c;
  c.put("g:x", {"alice"});
  c.add("g:x", "bob");
  EXPECT_EQ(*c.get("g:x"), (member_set{"alice", "bob"}));
  c.add("g:x", "bob");  // already there
  EXPECT_EQ(*c.get("g:x"), (member_set{"alice", "bob"}));
  c.remove("g:x", "alice");
  EXPECT_EQ(*c.get("g:x"), (member_set{"bob"}));
  c.remove("g:x", "nobody");
  EXPECT_EQ(*c.get("g:x"), (member_set{"bob"}));
}

TEST(membership_cache, add_or_remove_on_unknown_room_does_not_create_it) {
  // An add for a room not cached must not make a partial set look authoritative.
  membership_cache c;
  c.add("g:x", "alice");
  c.remove("g:y", "alice");
  EXPECT_EQ(c.get("g:x"), nullptr);
  EXPECT_EQ(c.get_stale("g:x"), nullptr);
  EXPECT_EQ(c.get("g:y"), nullptr);
}

TEST(membership_cache, put_replaces) {
  membership_cache c;
  c.put("g:x", {"alice"});
  c.put("g:x", {"carol"});
  EXPECT_EQ(*c.get("g:x"), (member_set{"carol"}));
}

TEST(membership_cache, forget) {
  membership_cache c;
  c.put("g:x", {"alice"});
  c.forget("g:x");
  EXPECT_EQ(c.get("g:x"), nullptr);
  EXPECT_EQ(c.get_stale("g:x"), nullptr);
  c.forget("g:never");
}

TEST(membership_cache, expires_after_ttl_but_stays_stale) {
  membership_cache c(30ms);
  c.put("g:x", {"alice"});
  EXPECT_NE(c.get("g:x"), nullptr);
  std::this_thread::sleep_for(80ms);
  EXPECT_EQ(c.get("g:x"), nullptr);
  auto stale = c.get_stale("g:x");
  ASSERT_NE(stale, nullptr);
  EXPECT_EQ(*stale, member_set{"alice"});
  // A fresh put (the reload) makes it current again.
  c.put("g:x", {"alice", "bob"});
  ASSERT_NE(c.get("g:x"), nullptr);
  EXPECT_EQ(c.get("g:x")->size(), 2u);
}

TEST(membership_cache, add_does_not_refresh_the_load_time) {
  // add/remove are deltas from the bus; only a load from the store (put) restarts the ttl,
  // so the set is still reloaded every ttl (architecture.md "Membership").
  membership_cache c(30ms);
  c.put("g:x", {"alice"});
  std::this_thread::sleep_for(80ms);
  c.add("g:x", "bob");
  EXPECT_EQ(c.get("g:x"), nullptr);
  EXPECT_EQ(*c.get_stale("g:x"), (member_set{"alice", "bob"}));
}

TEST(membership_cache, copy_on_write) {
  membership_cache c;
  c.put("g:x", {"alice"});
  auto before = c.get("g:x");
  c.add("g:x", "bob");
  EXPECT_EQ(*before, member_set{"alice"});  // the old pointer is unchanged
  auto after = c.get("g:x");
  EXPECT_NE(before.get(), after.get());
  EXPECT_EQ(*after, (member_set{"alice", "bob"}));
  c.remove("g:x", "alice");
  EXPECT_EQ(*after, (member_set{"alice", "bob"}));
  EXPECT_EQ(*c.get("g:x"), member_set{"bob"});
}

TEST(membership_cache, concurrent_readers_and_writers) {
  membership_cache c;
  c.put("g:x", {"alice"});
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      auto m = c.get_stale("g:x");
      if (m) {
        std::size_t n = 0;
        for (const auto& u : *m) n += u.size();  // iterate while writers replace the set
        (void)n;
      }
    }
  });
  for (int i = 0; i < 2000; ++i) {
    c.add("g:x", "u" + std::to_string(i % 50));
    c.remove("g:x", "u" + std::to_string((i + 25) % 50));
  }
  stop = true;
  reader.join();
  EXPECT_TRUE(c.get_stale("g:x")->count("alice"));
}

}  // namespace
}  // namespace parley::chat
