// Delivery across nodes (protocol.md section 4 "Guarantees", architecture.md "Membership"):
// every joined connection on every node receives every message once, in seq order, and
// nothing of rooms it did not join.
#include <thread>

#include "cluster_harness.h"

namespace parley::ctest {
namespace {

TEST_F(cluster, dm_between_users_on_two_nodes) {
  ASSERT_TRUE(start_nodes(2));
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  ASSERT_TRUE(alice && bob);
  const std::string room = itest::dm_room("alice", "bob");
  // Both nodes create the direct room on first use, at about the same time.
  ASSERT_TRUE(alice->join(room, 0)) << alice->report();
  ASSERT_TRUE(bob->join(room, 0)) << bob->report();
  const int n = 10;
  for (int i = 0; i < n; ++i) {
    alice->send(room, "from alice " + std::to_string(i), "a-" + std::to_string(i));
    bob->send(room, "from bob " + std::to_string(i), "b-" + std::to_string(i));
  }
  EXPECT_TRUE(alice->wait_seq(room, 2 * n, 15s)) << alice->report();
  EXPECT_TRUE(bob->wait_seq(room, 2 * n, 15s)) << bob->report();
  alice->drain(300ms);
  bob->drain(300ms);
  EXPECT_EQ(alice->acks.size(), static_cast<std::size_t>(n)) << alice->report();
  EXPECT_EQ(bob->acks.size(), static_cast<std::size_t>(n)) << bob->report();
  EXPECT_TRUE(same_stream({alice.get(), bob.get()}, room, 2 * n));
}

TEST_F(cluster, group_spread_over_three_nodes_with_two_devices) {
  ASSERT_TRUE(start_nodes(3));
  const std::string room = create_room(1, "bob", "spread", {"alice", "carol", "dave"});
  ASSERT_FALSE(room.empty());
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  auto carol = connect(2, "carol");
  auto dave1 = connect(0, "dave");
  auto dave2 = connect(2, "dave");
  auto dave3 = connect(1, "dave");  // joins nothing: gets notify only
  auto eve = connect(1, "eve");     // not a member
  ASSERT_TRUE(alice && bob && carol && dave1 && dave2 && dave3 && eve);
  std::vector<member*> ms = {alice.get(), bob.get(), carol.get(), dave1.get(), dave2.get()};
  for (member* m : ms) ASSERT_TRUE(m->join(room, 0)) << m->report();
  const std::string eve_room = itest::dm_room("eve", "zed");
  ASSERT_TRUE(eve->join(eve_room, 0)) << eve->report();
  // eve may not join the group: not_member, and she stays out of it.
  eve->c->send({{"type", "join"}, {"room", room}, {"since", 0}, {"rid", "steal"}});
  auto err = itest::expect_frame(*eve->c, "error");
  EXPECT_EQ(str(err, "code"), "not_member") << itest::dump(err);

  const int per = 5;
  for (int i = 0; i < per; ++i) {
    for (member* m : ms) {
      m->send(room, m->name + " " + std::to_string(i), m->name + "-" + std::to_string(i));
    }
  }
  const std::int64_t total = per * static_cast<std::int64_t>(ms.size());
  for (member* m : ms) EXPECT_TRUE(m->wait_seq(room, total, 15s)) << m->report();
  for (member* m : ms) m->drain(200ms);
  EXPECT_TRUE(same_stream(ms, room, total));
  // dave's devices each saw the other device's messages (and their own after the ack).
  for (member* m : ms) EXPECT_EQ(m->acks.size(), static_cast<std::size_t>(per)) << m->report();

  // dave's third connection (node 2, nothing joined) is told about the new messages.
  std::set<std::int64_t> notified;
  eventually(
      [&] {
        dave3->drain(100ms);
        notified.clear();
        for (const auto& f : dave3->other) {
          if (str(f, "type") == "notify" && str(f, "room") == room && str(f, "event") == "message")
            notified.insert(num(f, "seq"));
        }
        return static_cast<std::int64_t>(notified.size()) == total;
      },
      5s);
  EXPECT_EQ(static_cast<std::int64_t>(notified.size()), total)
      << "notify 'message' frames for dave's unjoined connection:\n"
      << dave3->report();
  EXPECT_TRUE(dave3->errors.empty()) << dave3->report();

  // eve saw nothing of the group: no message, history, typing or read (checked per frame),
  // and no notify either.
  eve->drain(300ms);
  EXPECT_TRUE(eve->errors.empty()) << eve->report();
  for (const auto& f : eve->other) {
    EXPECT_NE(str(f, "room"), room) << "eve saw " << itest::dump(f);
  }
}

TEST_F(cluster, concurrent_senders_on_every_node) {
  ASSERT_TRUE(start_nodes(3, {"--send-rate", "1000"}));
  std::vector<std::string> users = {"u0", "u1", "u2", "u3", "u4", "u5"};
  const std::string room = create_room(0, "u0", "busy", {"u1", "u2", "u3", "u4", "u5"});
  const std::string quiet = create_room(1, "w0", "quiet", {"u0", "w1", "w2"});
  ASSERT_FALSE(room.empty());
  ASSERT_FALSE(quiet.empty());
  std::vector<std::unique_ptr<member>> senders;
  for (std::size_t i = 0; i < users.size(); ++i) {
    senders.push_back(connect(i % 3, users[i]));
    ASSERT_TRUE(senders.back());
    ASSERT_TRUE(senders.back()->join(room, 0)) << senders.back()->report();
  }
  // Bystanders on every node: members of another room only, or (u0's second device) a
  // member of both rooms that joined only the quiet one.
  std::vector<std::unique_ptr<member>> bystanders;
  bystanders.push_back(connect(0, "w0"));
  bystanders.push_back(connect(1, "w1"));
  bystanders.push_back(connect(2, "w2"));
  bystanders.push_back(connect(2, "u0"));
  for (auto& b : bystanders) {
    ASSERT_TRUE(b);
    ASSERT_TRUE(b->join(quiet, 0)) << b->report();
  }

  const int per = 25;
  const std::int64_t total = per * static_cast<std::int64_t>(users.size());
  std::vector<std::thread> threads;
  for (auto& sp : senders) {
    member* m = sp.get();
    threads.emplace_back([m, room, total] {
      for (int i = 0; i < per; ++i) {
        m->send(room, m->name + " says " + std::to_string(i), m->name + "-" + std::to_string(i));
        if (i % 5 == 4) m->drain(5ms);
      }
      m->wait_seq(room, total, 20s);
      m->drain(200ms);
    });
  }
  // Meanwhile the quiet room gets a few messages from its own members.
  for (int i = 0; i < 3; ++i) {
    bystanders[static_cast<std::size_t>(i)]->send(quiet, "quiet " + std::to_string(i),
                                                  "q-" + std::to_string(i));
  }
  for (auto& t : threads) t.join();
  std::vector<member*> ms;
  for (auto& s : senders) {
    ms.push_back(s.get());
    EXPECT_EQ(s->acks.size(), static_cast<std::size_t>(per)) << s->report();
  }
  EXPECT_TRUE(same_stream(ms, room, total));
  std::vector<member*> bs;
  for (auto& b : bystanders) {
    b->wait_seq(quiet, 3, 10s);
    b->drain(200ms);
    bs.push_back(b.get());
  }
  EXPECT_TRUE(same_stream(bs, quiet, 3));
}

TEST_F(cluster, removed_member_stops_receiving_on_other_nodes) {
  ASSERT_TRUE(start_nodes(3));
  const std::string room = create_room(0, "alice", "club", {"bob", "carol"});
  ASSERT_FALSE(room.empty());
  auto alice = connect(0, "alice");
  auto bob2 = connect(1, "bob");
  auto bob3 = connect(2, "bob");
  auto carol = connect(2, "carol");
  ASSERT_TRUE(alice && bob2 && bob3 && carol);
  std::vector<member*> all = {alice.get(), bob2.get(), bob3.get(), carol.get()};
  for (member* m : all) ASSERT_TRUE(m->join(room, 0)) << m->report();
  for (int i = 0; i < 3; ++i)
    alice->send(room, "before " + std::to_string(i), "pre-" + std::to_string(i));
  for (member* m : all) EXPECT_TRUE(m->wait_seq(room, 3, 10s)) << m->report();

  // The creator removes bob through node 1; bob's connections are on nodes 2 and 3.
  auto r = http(0, "alice", "DELETE", "/api/rooms/" + itest::enc(room) + "/members/bob");
  ASSERT_EQ(r.status, 200) << r.body;
  for (member* b : {bob2.get(), bob3.get()}) {
    bool left = eventually(
        [&] {
          b->drain(50ms);
          return b->joined.count(room) == 0;
        },
        8s);
    EXPECT_TRUE(left) << b->name << " got no 'left' for " << room << "\n" << b->report();
    for (const auto& f : b->other) {
      if (str(f, "type") == "left") {
        EXPECT_EQ(str(f, "reason"), "removed") << itest::dump(f);
      }
    }
  }
  for (int i = 0; i < 3; ++i)
    alice->send(room, "after " + std::to_string(i), "post-" + std::to_string(i));
  EXPECT_TRUE(alice->wait_seq(room, 6, 10s)) << alice->report();
  EXPECT_TRUE(carol->wait_seq(room, 6, 10s)) << carol->report();
  // bob's connections see nothing of the room any more (a message would be a violation:
  // the room is no longer in their joined set).
  for (member* b : {bob2.get(), bob3.get()}) {
    b->drain(500ms);
    EXPECT_TRUE(b->errors.empty()) << b->report();
    EXPECT_EQ(b->last[room], 3) << b->report();
  }
  // ... and may not join it again, on any node.
  bob2->c->send({{"type", "join"}, {"room", room}, {"since", 0}, {"rid", "again"}});
  auto err = itest::expect_frame(*bob2->c, "error");
  EXPECT_EQ(str(err, "code"), "not_member") << itest::dump(err);
  EXPECT_EQ(http(2, "bob", "GET", "/api/rooms/" + itest::enc(room) + "/messages").status, 404);
  EXPECT_TRUE(alice->errors.empty()) << alice->report();
  EXPECT_TRUE(carol->errors.empty()) << carol->report();
}

TEST_F(cluster, nodes_starting_at_once_migrate_a_fresh_schema_once) {
  std::string why;
  auto exists = pg_query(
      pg_base(), "SELECT count(*) FROM pg_namespace WHERE nspname = '" + schema_ + "'", why);
  ASSERT_TRUE(exists) << why;
  ASSERT_EQ((*exists)[0][0], "0");
  for (int i = 0; i < 3; ++i) add_node();
  ASSERT_TRUE(start_all());
  auto rows = pg_query(pg_base(),
                       "SELECT version, count(*) FROM \"" + schema_ +
                           "\".schema_version GROUP BY version ORDER BY version",
                       why);
  ASSERT_TRUE(rows) << why;
  ASSERT_FALSE(rows->empty());
  for (std::size_t i = 0; i < rows->size(); ++i) {
    EXPECT_EQ((*rows)[i][0], std::to_string(i + 1)) << "versions are not 1..N";
    EXPECT_EQ((*rows)[i][1], "1") << "migration " << (*rows)[i][0] << " recorded more than once";
  }
  // Each migration was applied by exactly one node (the others found it done).
  std::size_t applied = 0;
  for (auto& n : nodes_) {
    std::string log = n->log();
    for (auto p = log.find("applied migration"); p != std::string::npos;
         p = log.find("applied migration", p + 1)) {
      ++applied;
    }
  }
  EXPECT_EQ(applied, rows->size()) << "'applied migration' log lines across the nodes";
  // And the cluster works on it.
  auto a = connect(0, "alice");
  auto b = connect(2, "bob");
  ASSERT_TRUE(a && b);
  const std::string room = itest::dm_room("alice", "bob");
  ASSERT_TRUE(a->join(room, 0));
  ASSERT_TRUE(b->join(room, 0));
  a->send(room, "hello", "h1");
  EXPECT_TRUE(b->wait_seq(room, 1, 10s)) << b->report();
  EXPECT_TRUE(a->wait_seq(room, 1, 10s)) << a->report();
  EXPECT_TRUE(same_stream({a.get(), b.get()}, room, 1));
}

}  // namespace
}  // namespace parley::ctest
