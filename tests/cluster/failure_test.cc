// The failure model of architecture.md: a node killed with SIGKILL, Kafka stopped (own
// broker), PostgreSQL unreachable (own instance).
#include <atomic>
#include <thread>

#include "cluster_harness.h"

namespace parley::ctest {
namespace {

using steady = std::chrono::steady_clock;

json::object parse_object(const std::string& body) {
  boost::system::error_code ec;
  auto v = json::parse(body, ec);
  return !ec && v.is_object() ? v.as_object() : json::object{};
}

// One sender: `per` messages into `room` on its member, reconnecting to `fallback` (and
// re-sending unacknowledged cids, which the server must store once) when its node dies;
// then reads until it has every message up to `total`.
void run_sender(member* m, const std::string& room, int per, std::int64_t total,
                std::size_t fallback, std::atomic<int>* sent,
                const std::function<bool(member&, std::size_t)>& reconnect) {
  const auto deadline = steady::now() + 25s;
  auto reconnect_if_closed = [&] {
    if (m->open()) return true;
    m->drain(0ms);  // frames that arrived before the close
    if (!reconnect(*m, fallback)) return false;
    // Re-send every cid without an ack: stored at most once, acked with the original seq.
    for (int i = 0; i < per; ++i) {
      std::string cid = m->user + "-" + std::to_string(i);
      if (m->sent_cids.count(cid) && !m->acks.count(cid)) {
        m->send(room, m->user + " " + std::to_string(i), cid);
      }
    }
    return true;
  };
  for (int i = 0; i < per && steady::now() < deadline; ++i) {
    if (!reconnect_if_closed()) return;
    std::string cid = m->user + "-" + std::to_string(i);
    m->sent_cids.insert(cid);
    m->send(room, m->user + " " + std::to_string(i), cid);
    sent->fetch_add(1);
    m->drain(15ms);
  }
  while (static_cast<int>(m->acks.size()) < per && steady::now() < deadline) {
    if (!reconnect_if_closed()) return;
    m->drain(50ms);
  }
  while (m->last[room] < total && steady::now() < deadline) {
    if (!reconnect_if_closed()) return;
    m->wait_seq(room, total, 500ms);
  }
  m->drain(200ms);
}

void run_observer(member* m, const std::string& room, std::int64_t total, std::size_t fallback,
                  const std::function<bool(member&, std::size_t)>& reconnect) {
  const auto deadline = steady::now() + 25s;
  while (m->last[room] < total && steady::now() < deadline) {
    if (!m->open()) {
      m->drain(0ms);
      if (!reconnect(*m, fallback)) return;
    }
    m->wait_seq(room, total, 500ms);
  }
  m->drain(200ms);
}

TEST_F(cluster, sigkill_node_while_messages_flow) {
  ASSERT_TRUE(start_nodes(3, {"--send-rate", "1000"}));
  const std::string room = create_room(1, "s1", "crash", {"s0", "s2", "o0", "o1"});
  ASSERT_FALSE(room.empty());
  // Node 1 (index 0) is the victim: sender s0 and observer o0 sit there.
  auto s0 = connect(0, "s0");
  auto s1 = connect(1, "s1");
  auto s2 = connect(2, "s2");
  auto o0 = connect(0, "o0");
  auto o1 = connect(1, "o1");
  ASSERT_TRUE(s0 && s1 && s2 && o0 && o1);
  std::vector<member*> all = {s0.get(), s1.get(), s2.get(), o0.get(), o1.get()};
  for (member* m : all) ASSERT_TRUE(m->join(room, 0)) << m->report();

  const int per = 40;
  const std::int64_t total = 3 * per;
  std::atomic<int> sent{0};
  auto reconnect = [this](member& m, std::size_t n) { return this->reconnect(m, n); };
  std::vector<std::thread> threads;
  threads.emplace_back([&] { run_sender(s0.get(), room, per, total, 1, &sent, reconnect); });
  threads.emplace_back([&] { run_sender(s1.get(), room, per, total, 2, &sent, reconnect); });
  threads.emplace_back([&] { run_sender(s2.get(), room, per, total, 1, &sent, reconnect); });
  threads.emplace_back([&] { run_observer(o0.get(), room, total, 2, reconnect); });
  threads.emplace_back([&] { run_observer(o1.get(), room, total, 2, reconnect); });
  // Kill node 1 once about a third of the messages are on their way.
  eventually([&] { return sent.load() >= static_cast<int>(total / 3); }, 10s);
  node(0).kill();
  const int sent_at_kill = sent.load();
  for (auto& t : threads) t.join();
  EXPECT_GT(sent_at_kill, 0);
  EXPECT_LT(sent_at_kill, total) << "the kill came after the traffic";
  // The victim's clients did move (hello names the node they are on now).
  EXPECT_EQ(str(s0->c->hello, "node"), "n2") << s0->report();
  EXPECT_EQ(str(o0->c->hello, "node"), "n3") << o0->report();

  // Every sender's messages were all acked (after re-sending over the new node).
  for (member* m : {s0.get(), s1.get(), s2.get()}) {
    EXPECT_EQ(m->acks.size(), static_cast<std::size_t>(per)) << m->report();
  }
  // Every connection, moved or not, has every message once, in order.
  EXPECT_TRUE(same_stream(all, room, total));
  // The store holds each cid exactly once, seqs 1..total.
  auto stored = stored_messages(1, "s1", room);
  std::set<std::string> cids;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(num(stored[i], "seq"), static_cast<std::int64_t>(i + 1));
    EXPECT_TRUE(cids.insert(str(stored[i], "cid")).second)
        << "stored twice: " << str(stored[i], "cid");
  }
  EXPECT_EQ(static_cast<std::int64_t>(stored.size()), total);
  // Nothing acked was lost: every ack names a stored message with the same id.
  std::map<std::int64_t, std::string> ids;
  for (const auto& m : stored) ids[num(m, "seq")] = str(m, "id");
  for (member* m : {s0.get(), s1.get(), s2.get()}) {
    for (const auto& [cid, ack] : m->acks) {
      EXPECT_EQ(ids[num(ack, "seq")], str(ack, "id"))
          << "acked but not stored: " << itest::dump(ack);
    }
  }
  // The dead node's unpublished outbox rows are published by the others: the topic ends up
  // with every stored message.
  std::string why;
  std::map<std::pair<std::string, std::int64_t>, int> keys;
  auto records = consume_topic(
      bootstrap_, topic_, unique_name("ct-check-"),
      [&](const std::vector<kafka_record>& rs) {
        keys = message_keys(rs);
        for (std::int64_t s = 1; s <= total; ++s) {
          if (!keys.count({room, s})) return false;
        }
        return true;
      },
      20s, why);
  keys = message_keys(records);
  std::vector<std::int64_t> missing;
  for (std::int64_t s = 1; s <= total; ++s) {
    if (!keys.count({room, s})) missing.push_back(s);
  }
  EXPECT_TRUE(missing.empty()) << missing.size() << " stored messages never reached the topic, "
                               << "first seq " << (missing.empty() ? 0 : missing[0]) << " ("
                               << records.size() << " records read; " << why << ")";
}

TEST_F(cluster, kafka_outage_then_recovery) {
  own_broker kb;
  std::string why;
  ASSERT_TRUE(kb.start(why)) << why;
  add_node({}, {}, kb.bootstrap());
  add_node({}, {}, kb.bootstrap());
  ASSERT_TRUE(start_all());
  const std::string room = create_room(0, "alice", "outage", {"bob", "carol", "dave", "erin"});
  ASSERT_FALSE(room.empty());
  auto alice = connect(0, "alice");
  auto carol = connect(0, "carol");
  auto bob = connect(1, "bob");
  auto dave = connect(1, "dave");
  auto erin = connect(1, "erin");  // removed during the outage
  ASSERT_TRUE(alice && carol && bob && dave && erin);
  std::vector<member*> all = {alice.get(), carol.get(), bob.get(), dave.get()};
  for (member* m : all) ASSERT_TRUE(m->join(room, 0)) << m->report();
  ASSERT_TRUE(erin->join(room, 0)) << erin->report();
  alice->send(room, "warm-up", "warm");
  for (member* m : all) ASSERT_TRUE(m->wait_seq(room, 1, 10s)) << m->report();
  ASSERT_TRUE(erin->wait_seq(room, 1, 10s)) << erin->report();

  ASSERT_TRUE(kb.stop(why)) << why;
  // Sends on node 1 store and ack; node 1's connections get them at once.
  for (int i = 0; i < 10; ++i)
    alice->send(room, "during " + std::to_string(i), "a-" + std::to_string(i));
  for (int i = 0; i < 10; ++i) {
    EXPECT_TRUE(alice->wait_ack("a-" + std::to_string(i), 10s)) << alice->report();
  }
  EXPECT_EQ(alice->acks.size(), 11u) << alice->report();
  EXPECT_TRUE(carol->wait_seq(room, 11, 5s)) << carol->report();
  // A removal on node 1 reaches erin's connection on node 2 without Kafka (membership
  // refresh from the store, architecture.md "Membership").
  auto del = http(0, "alice", "DELETE", "/api/rooms/" + itest::enc(room) + "/members/erin");
  EXPECT_EQ(del.status, 200) << del.body;
  EXPECT_TRUE(eventually(
      [&] {
        erin->drain(50ms);
        return erin->joined.count(room) == 0;
      },
      8s))
      << "erin (node 2) got no 'left' while Kafka is down\n"
      << erin->report();
  // Sends on node 2 too (node 2's connections get them, their gap filled from the store).
  for (int i = 0; i < 3; ++i)
    dave->send(room, "dave " + std::to_string(i), "d-" + std::to_string(i));
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(dave->wait_ack("d-" + std::to_string(i), 10s));
  EXPECT_EQ(dave->acks.size(), 3u) << dave->report();
  EXPECT_TRUE(dave->wait_seq(room, 14, 5s)) << dave->report();

  // /readyz stays 200 and reports Kafka down (once librdkafka noticed).
  bool always_200 = true;
  std::string last_body;
  for (std::size_t n : {0u, 1u}) {
    bool down = eventually(
        [&] {
          auto r = client::http_request(node(n).http_base(), "GET", "/readyz");
          last_body = std::to_string(r.status) + " " + r.body;
          if (r.status != 200) always_200 = false;
          return str(parse_object(r.body), "kafka") == "down";
        },
        20s);
    EXPECT_TRUE(down) << node(n).id() << " /readyz never reported kafka down: " << last_body;
    if (down) {
      EXPECT_EQ(metric(n, "parley_kafka_up").value_or(-1), 0) << node(n).id();
    }
  }
  EXPECT_TRUE(always_200) << "/readyz was not 200 during the outage: " << last_body;

  ASSERT_TRUE(kb.start(why)) << why;  // same dir and port
  for (std::size_t n : {0u, 1u}) {
    bool up = eventually(
        [&] {
          auto r = client::http_request(node(n).http_base(), "GET", "/readyz");
          last_body = std::to_string(r.status) + " " + r.body;
          return r.status == 200 && str(parse_object(r.body), "kafka") == "up";
        },
        30s);
    EXPECT_TRUE(up) << node(n).id() << " /readyz never reported kafka up again: " << last_body;
  }
  // Cross-node delivery resumes: every missed message reaches every joined connection
  // once, in order.
  for (member* m : all) EXPECT_TRUE(m->wait_seq(room, 14, 30s)) << m->report();
  alice->send(room, "after", "a-after");
  dave->send(room, "after", "d-after");
  for (member* m : all) EXPECT_TRUE(m->wait_seq(room, 16, 10s)) << m->report();
  for (member* m : all) m->drain(200ms);
  EXPECT_TRUE(same_stream(all, room, 16));
  // erin saw nothing of the room after her `left` (a message then would be a violation).
  erin->drain(200ms);
  EXPECT_TRUE(erin->errors.empty()) << erin->report();
  EXPECT_LE(erin->last[room], 11) << erin->report();

  // The topic ends up with every stored message.
  std::map<std::pair<std::string, std::int64_t>, int> keys;
  auto records = consume_topic(
      kb.bootstrap(), topic_, unique_name("ct-check-"),
      [&](const std::vector<kafka_record>& rs) {
        keys = message_keys(rs);
        for (std::int64_t s = 1; s <= 16; ++s) {
          if (!keys.count({room, s})) return false;
        }
        return true;
      },
      30s, why);
  keys = message_keys(records);
  for (std::int64_t s = 1; s <= 16; ++s) {
    EXPECT_TRUE(keys.count({room, s}))
        << "seq " << s << " of " << room << " never reached the topic (" << records.size()
        << " records read; " << why << ")";
  }
  std::string kstop;
  kb.stop(kstop);
}

TEST_F(cluster, postgres_unreachable_then_back) {
  pg_instance pg;
  if (!pg.skip_reason().empty()) GTEST_SKIP() << pg.skip_reason();
  drop_schema_ = false;  // the instance goes away with its data
  const std::string db = pg.url() + "?connect_timeout=2";
  add_node({}, db);
  add_node({}, db);
  ASSERT_TRUE(start_all());
  auto alice = connect(0, "alice");
  auto bob = connect(1, "bob");
  ASSERT_TRUE(alice && bob);
  const std::string room = itest::dm_room("alice", "bob");
  ASSERT_TRUE(alice->join(room, 0)) << alice->report();
  ASSERT_TRUE(bob->join(room, 0)) << bob->report();
  for (int i = 0; i < 3; ++i)
    alice->send(room, "before " + std::to_string(i), "pre-" + std::to_string(i));
  ASSERT_TRUE(bob->wait_seq(room, 3, 10s)) << bob->report();

  ASSERT_TRUE(pg.stop());
  std::set<std::string> refused;  // cids answered `unavailable`
  for (int i = 0; i < 4; ++i) {
    std::string cid = "down-" + std::to_string(i);
    alice->send(room, "while down " + std::to_string(i), cid);
    ASSERT_TRUE(alice->wait_ack(cid, 15s)) << "no answer to a send while PostgreSQL is down\n"
                                           << alice->report();
    EXPECT_EQ(alice->acks.count(cid), 0u)
        << "acked while PostgreSQL is down: " << itest::dump(alice->acks[cid]);
    for (const auto& e : alice->errors_frames) {
      if (str(e, "ref") != cid) continue;
      EXPECT_EQ(str(e, "code"), "unavailable") << itest::dump(e);
      refused.insert(cid);
    }
  }
  EXPECT_EQ(refused.size(), 4u) << alice->report();
  // /readyz says so.
  std::string last_body;
  EXPECT_TRUE(eventually(
      [&] {
        auto r = client::http_request(node(0).http_base(), "GET", "/readyz");
        last_body = std::to_string(r.status) + " " + r.body;
        return r.status == 503 && str(parse_object(r.body), "store") == "down";
      },
      10s))
      << "/readyz while PostgreSQL is down: " << last_body;

  ASSERT_TRUE(pg.start());
  // The node recovers by itself: a send is acked again within seconds.
  std::string probe_cid;
  bool back = eventually(
      [&] {
        probe_cid = "probe-" + std::to_string(alice->acks.size()) + "-" +
                    std::to_string(alice->errors_frames.size());
        alice->send(room, "probe", probe_cid);
        if (!alice->wait_ack(probe_cid, 5s)) return false;
        if (alice->acks.count(probe_cid)) return true;
        refused.insert(probe_cid);
        return false;
      },
      30s);
  ASSERT_TRUE(back) << "node 1 did not recover after PostgreSQL came back\n" << alice->report();
  // The refused sends, retried with the same cid, are stored now (once).
  for (int i = 0; i < 4; ++i) {
    std::string cid = "down-" + std::to_string(i);
    alice->send(room, "while down " + std::to_string(i), cid);
    EXPECT_TRUE(alice->wait_ack(cid, 10s));
    EXPECT_EQ(alice->acks.count(cid), 1u) << alice->report();
    refused.erase(cid);
  }
  // bob's node recovered as well.
  bob->send(room, "bob is back", "bob-back");
  EXPECT_TRUE(bob->wait_ack("bob-back", 10s));
  EXPECT_EQ(bob->acks.count("bob-back"), 1u) << bob->report();

  const std::int64_t total = static_cast<std::int64_t>(alice->acks.size() + bob->acks.size());
  for (member* m : {alice.get(), bob.get()}) {
    EXPECT_TRUE(m->wait_seq(room, total, 15s)) << m->report();
    m->drain(200ms);
  }
  std::vector<member*> both = {alice.get(), bob.get()};
  // alice's connection saw `error` frames, which are not violations; same_stream looks at
  // messages and acks only.
  EXPECT_TRUE(same_stream(both, room, total));
  // Nothing refused was stored; everything acked was.
  auto stored = stored_messages(1, "bob", room);
  EXPECT_EQ(static_cast<std::int64_t>(stored.size()), total);
  for (const auto& m : stored) {
    EXPECT_EQ(refused.count(str(m, "cid")), 0u)
        << "answered unavailable but stored: " << itest::dump(m);
  }
  for (std::size_t n : {0u, 1u}) {
    auto r = client::http_request(node(n).http_base(), "GET", "/readyz");
    EXPECT_EQ(r.status, 200) << node(n).id() << " " << r.body;
  }
}

}  // namespace
}  // namespace parley::ctest
