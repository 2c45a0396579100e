// connection: per-connection delivery rules (architecture.md "Data flow"): dedup by seq,
// order, gap fill from the store after gap_wait, the join seam, notify, ephemeral echo,
// leave, and ack-before-copy. Runs a real SQLite store, the local bus and the service.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <future>
#include <map>
#include <random>
#include <thread>

#include "auth/jwt.h"
#include "base/clock.h"
#include "base/metrics.h"
#include "chat/chat_test_env.h"
#include "chat/errors.h"

namespace parley::chat::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

// Queues a task that holds the store pool until `gate` is set (the pool is FIFO: the store
// work queued after it waits too).
void gate_pool(env& e, std::promise<void>& gate) {
  e.svc().blocking(
      [g = gate.get_future().share()]() -> result<void> {
        g.wait();
        return success();
      },
      [](result<void>) {});
}

// ---- (a) out of order and duplicated records ---------------------------------------------

TEST(connection_delivery, out_of_order_and_duplicate_records_delivered_once_in_order) {
  auto opts = env::default_options();
  opts.gap_wait_ms = 3000;  // long: ordering must come from buffering, not from gap fill
  env e(opts);
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  std::vector<store::message> ms;
  for (int i = 1; i <= 5; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  auto fills = global_metrics().gap_fills.load();
  for (int s : {3, 1, 2, 2, 5, 4, 4}) e.dispatch(ms[s - 1]);
  ASSERT_TRUE(has_live(*a.rec, R, 5));
  for (int s : {1, 5, 3}) e.dispatch(ms[s - 1]);  // late duplicates
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, 5));
  EXPECT_EQ(global_metrics().gap_fills.load(), fills);
  // The frames are the messages as stored.
  auto msgs = of_type(a, "message");
  ASSERT_EQ(msgs.size(), 5u);
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_EQ(msgs[i].at("text"), js(ms[i].text));
    EXPECT_EQ(msgs[i].at("id"), js(ms[i].id));
    EXPECT_EQ(msgs[i].at("from"), "bob");
  }
}

TEST(connection_delivery, shuffled_duplicated_records_from_several_threads) {
  env e;  // gap_wait 20 ms: some gaps may be filled from the store; the result is the same
  auto a = e.connect("alice", "s1");
  auto b = e.connect("bob", "s2");
  e.join(a, R);
  e.join(b, R);
  constexpr int n = 150;
  std::vector<store::message> ms;
  for (int i = 1; i <= n; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  std::vector<int> order;
  for (int i = 0; i < n; ++i) {
    order.push_back(i);
    if (i % 3 == 0) order.push_back(i);
  }
  std::mt19937 rng(12345);
  std::shuffle(order.begin(), order.end(), rng);
  auto half = order.size() / 2;
  std::thread t1([&] {
    for (std::size_t i = 0; i < half; ++i) e.dispatch(ms[order[i]]);
  });
  std::thread t2([&] {
    for (std::size_t i = half; i < order.size(); ++i) e.dispatch(ms[order[i]]);
  });
  t1.join();
  t2.join();
  ASSERT_TRUE(has_live(*a.rec, R, n));
  ASSERT_TRUE(has_live(*b.rec, R, n));
  std::this_thread::sleep_for(50ms);  // any stray gap fill would land here
  settle(e, a);
  settle(e, b);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, n));
  EXPECT_EQ(live_seqs(b.rec->frames(), R), iota_seqs(1, n));
}

// ---- (b) gap fill ------------------------------------------------------------------------

TEST(connection_delivery, gap_filled_from_store_after_gap_wait) {
  env e;  // gap_wait 20 ms
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  std::vector<store::message> ms;
  for (int i = 1; i <= 5; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  auto fills = global_metrics().gap_fills.load();
  auto t0 = std::chrono::steady_clock::now();
  e.dispatch(ms[4]);  // only seq 5: 1..4 are in the store, their records never come
  ASSERT_TRUE(has_live(*a.rec, R, 5));
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(waited, 15ms);                                  // not before gap_wait
  EXPECT_EQ(global_metrics().gap_fills.load(), fills + 1);  // one range read
  // Late records of the filled gap are duplicates.
  for (int s : {2, 3, 1, 4, 5}) e.dispatch(ms[s - 1]);
  auto m6 = e.append(R, "bob", "m6");
  e.dispatch(m6);
  ASSERT_TRUE(has_live(*a.rec, R, 6));
  std::this_thread::sleep_for(60ms);
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, 6));
  auto msgs = of_type(a, "message");
  ASSERT_EQ(msgs.size(), 6u);
  for (std::size_t i = 0; i < 5; ++i) EXPECT_EQ(msgs[i].at("text"), js(ms[i].text));
  EXPECT_EQ(global_metrics().gap_fills.load(), fills + 1);
}

TEST(connection_delivery, gap_after_join_snapshot_is_filled) {
  env e;
  auto a = e.connect("alice", "s1");
  e.append(R, "bob", "before-1");
  e.append(R, "bob", "before-2");
  e.join(a, R, 0);  // replays 1..2, live from 3
  std::vector<store::message> ms;
  for (int i = 3; i <= 7; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  e.dispatch(ms.back());  // 7; 3..6 must come from the store
  e.dispatch(ms[1]);      // 4, also beyond the gap
  ASSERT_TRUE(has_live(*a.rec, R, 5));
  std::this_thread::sleep_for(60ms);
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(3, 7));
}

TEST(connection_delivery, records_arriving_within_gap_wait_need_no_fill) {
  auto opts = env::default_options();
  opts.gap_wait_ms = 2000;
  env e(opts);
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  std::vector<store::message> ms;
  for (int i = 1; i <= 3; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  auto fills = global_metrics().gap_fills.load();
  e.dispatch(ms[2]);
  e.dispatch(ms[0]);
  std::this_thread::sleep_for(30ms);
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), (std::vector<std::int64_t>{1}));
  e.dispatch(ms[1]);
  ASSERT_TRUE(has_live(*a.rec, R, 3));
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, 3));
  EXPECT_EQ(global_metrics().gap_fills.load(), fills);
}

// ---- (c) the join seam under concurrent sends -----------------------------------------

TEST(connection_delivery, join_seam_under_concurrent_sends_has_no_gap_no_repeat) {
  env e;
  auto a = e.connect("alice", "s1");
  constexpr int n = 300;
  std::atomic<int> acked{0};
  std::atomic<bool> failed{false};
  std::thread sender([&] {
    for (int i = 1; i <= n; ++i) {
      e.svc().send(send_request{"bob", R, "m" + std::to_string(i), "c" + std::to_string(i), ""},
                   [&](result<store::append_result> r) {
                     if (!r) failed = true;
                     acked.fetch_add(1);
                   });
      if (i % 10 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  // At least one join while the sender runs (it may finish all n within a few ms when the
  // writer batches them: the loop must still run once, or there is no seam to check).
  int joins = 0;
  do {
    e.text(a, R"({"type":"join","room":")" + R + R"(","since":0})");
    ++joins;
    std::this_thread::sleep_for(2ms);
  } while (acked.load() < n && joins < 200);
  sender.join();
  ASSERT_FALSE(failed.load());
  // A join supersedes one still reading its snapshot (no `joined` for that one): let the
  // loop's last join be answered first, so that the final join opens a second epoch.
  ASSERT_TRUE(a.rec->wait([&](const auto& fs) {
    for (const auto& o : parse_all(fs))
      if (type_of(o) == "joined") return true;
    return false;
  }));
  // A last join after every send; then all n must be seen in that epoch.
  e.join(a, R, 0);
  ASSERT_TRUE(a.rec->wait([&](const auto& fs) {
    std::int64_t top = 0;
    for (const auto& o : parse_all(fs)) {
      auto t = type_of(o);
      if (t == "joined") top = 0;
      if (t == "history")
        for (const auto& m : o.at("messages").as_array()) top = m.as_object().at("seq").as_int64();
      if (t == "message") top = o.at("seq").as_int64();
    }
    return top == n;
  }));
  settle(e, a);

  // Every epoch (a `joined` frame up to the next one) is history seqs 1..k followed by live
  // seqs k+1..m: contiguous from 1, no repeats. Live seqs never repeat across epochs.
  auto fs = a.rec->frames();
  auto os = parse_all(fs);
  std::vector<std::int64_t> epoch;
  std::vector<std::int64_t> all_live;
  int epochs = 0;
  auto check_epoch = [&] {
    for (std::size_t i = 0; i < epoch.size(); ++i)
      ASSERT_EQ(epoch[i], static_cast<std::int64_t>(i + 1)) << "epoch " << epochs;
  };
  for (std::size_t i = 0; i < os.size(); ++i) {
    auto t = type_of(os[i]);
    ASSERT_NE(t, "error") << fs[i].frame;
    if (t == "joined") {
      if (epochs > 0) check_epoch();
      ++epochs;
      epoch.clear();
    } else if (t == "history") {
      for (const auto& m : os[i].at("messages").as_array())
        epoch.push_back(m.as_object().at("seq").as_int64());
    } else if (t == "message") {
      ASSERT_TRUE(fs[i].is_message);
      ASSERT_GT(epochs, 0) << "live message before any joined";
      epoch.push_back(os[i].at("seq").as_int64());
      all_live.push_back(os[i].at("seq").as_int64());
    }
  }
  check_epoch();
  EXPECT_EQ(epoch.size(), static_cast<std::size_t>(n));
  EXPECT_TRUE(std::is_sorted(all_live.begin(), all_live.end()));
  EXPECT_EQ(std::adjacent_find(all_live.begin(), all_live.end()), all_live.end())
      << "a live message was repeated";
  EXPECT_GE(epochs, 2);
}

TEST(connection_delivery, records_buffered_during_join_are_replayed_without_repeat) {
  // Deterministic seam: records arrive while the join's snapshot is being read (they are
  // buffered), the snapshot covers them, and only a later message is live.
  auto opts = env::default_options();
  opts.gap_wait_ms = 2000;
  opts.blocking_threads = 1;
  env e(opts, 1);
  auto a = e.connect("alice", "s1");
  std::vector<store::message> ms;
  for (int i = 1; i <= 4; ++i) ms.push_back(e.append(R, "bob", "m" + std::to_string(i)));
  // Gate the blocking pool: the join's snapshot read waits behind it.
  std::promise<void> pool_gate;
  gate_pool(e, pool_gate);
  e.text(a, R"({"type":"join","room":")" + R + R"(","since":1})");
  // Hold the only io thread, so everything below queues on the strand in a known order.
  std::promise<void> io_gate, holding;
  boost::asio::post(a.strand, [g = io_gate.get_future().share(), &holding] {
    holding.set_value();
    g.wait();
  });
  holding.get_future().wait();
  for (int s : {2, 4, 3, 1}) e.dispatch(ms[s - 1]);  // while replaying: buffered
  auto m5 = e.append(R, "bob", "m5");                // committed before the snapshot
  e.dispatch(m5);
  pool_gate.set_value();
  std::promise<void> snapshot_done;  // the pool is FIFO with one thread
  e.svc().blocking(
      [&]() -> result<void> {
        snapshot_done.set_value();
        return success();
      },
      [](result<void>) {});
  snapshot_done.get_future().wait();
  auto m6 = e.append(R, "bob", "m6");  // after the snapshot: live
  e.dispatch(m6);
  e.dispatch(m5);
  e.dispatch(m6);
  io_gate.set_value();
  ASSERT_TRUE(has_live(*a.rec, R, 1));
  std::this_thread::sleep_for(30ms);
  settle(e, a);
  auto hist = of_type(a, "history");
  ASSERT_EQ(hist.size(), 1u);
  std::vector<std::int64_t> replayed;
  for (const auto& m : hist[0].at("messages").as_array())
    replayed.push_back(m.as_object().at("seq").as_int64());
  EXPECT_EQ(replayed, iota_seqs(2, 5));
  EXPECT_EQ(of_type(a, "joined")[0].at("last_seq"), 5);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), (std::vector<std::int64_t>{6}));
}

// ---- (d) notify --------------------------------------------------------------------------

TEST(connection_delivery, notify_goes_to_unjoined_connections_only) {
  env e;
  auto joined = e.connect("alice", "s1");
  auto other = e.connect("alice", "s2");
  auto carol = e.connect("carol", "s3");  // not a member of R
  e.join(joined, R);
  auto m = send_sync(e, "bob", R, "hello alice");
  ASSERT_TRUE(other.rec->wait([](const auto& fs) { return count_type(fs, "notify") == 1; }));
  ASSERT_TRUE(has_live(*joined.rec, R, 1));
  settle(e, joined);
  settle(e, other);
  settle(e, carol);
  auto n = of_type(other, "notify");
  ASSERT_EQ(n.size(), 1u);
  EXPECT_EQ(n[0].at("room"), js(R));
  EXPECT_EQ(n[0].at("event"), "message");
  EXPECT_EQ(n[0].at("seq"), m.seq);
  EXPECT_EQ(n[0].at("from"), "bob");
  EXPECT_EQ(count_type(other.rec->frames(), "message"), 0u);
  EXPECT_EQ(count_type(joined.rec->frames(), "notify"), 0u);
  EXPECT_TRUE(carol.rec->frames().empty());
}

TEST(connection_delivery, group_notify_added_and_message) {
  env e;
  auto joined = e.connect("alice", "s1");
  auto other = e.connect("alice", "s2");
  auto room = e.svc().create_room("bob", "team", {"alice"});
  ASSERT_TRUE(room);
  const auto g = room.value().id;
  for (auto* c : {&joined, &other}) {
    ASSERT_TRUE(c->rec->wait([](const auto& fs) { return count_type(fs, "notify") == 1; }));
    auto n = of_type(*c, "notify");
    EXPECT_EQ(n[0].at("room"), js(g));
    EXPECT_EQ(n[0].at("event"), "added");
    EXPECT_EQ(n[0].at("from"), "bob");
  }
  e.join(joined, g);
  auto m = send_sync(e, "bob", g, "hi team");
  ASSERT_TRUE(other.rec->wait([](const auto& fs) { return count_type(fs, "notify") == 2; }));
  ASSERT_TRUE(has_live(*joined.rec, g, 1));
  settle(e, joined);
  auto n = of_type(other, "notify");
  EXPECT_EQ(n[1].at("event"), "message");
  EXPECT_EQ(n[1].at("seq"), m.seq);
  EXPECT_EQ(count_type(joined.rec->frames(), "notify"), 1u);  // only `added`
}

// ---- (e) typing / read are not echoed ----------------------------------------------------

TEST(connection_delivery, typing_and_read_not_echoed_to_origin) {
  env e;
  auto a1 = e.connect("alice", "s1");
  auto a2 = e.connect("alice", "s2");
  auto b = e.connect("bob", "s3");
  e.append(R, "bob", "m1");
  e.append(R, "bob", "m2");
  for (auto* c : {&a1, &a2, &b}) e.join(*c, R);

  e.text(a1, R"({"type":"typing","room":")" + R + R"("})");
  for (auto* c : {&a2, &b})
    ASSERT_TRUE(c->rec->wait([](const auto& fs) { return count_type(fs, "typing") == 1; }));
  settle(e, a1);
  EXPECT_EQ(count_type(a1.rec->frames(), "typing"), 0u);
  auto t = of_type(b, "typing");
  EXPECT_EQ(t[0].at("room"), js(R));
  EXPECT_EQ(t[0].at("user"), "alice");

  e.text(a1, R"({"type":"read","room":")" + R + R"(","seq":9})");  // clamped to 2
  for (auto* c : {&a2, &b})
    ASSERT_TRUE(c->rec->wait([](const auto& fs) { return count_type(fs, "read") == 1; }));
  settle(e, a1);
  EXPECT_EQ(count_type(a1.rec->frames(), "read"), 0u);
  auto r = of_type(a2, "read");  // the user's other device gets it
  EXPECT_EQ(r[0].at("user"), "alice");
  EXPECT_EQ(r[0].at("seq"), 2);
  for (auto* c : {&a1, &a2, &b}) EXPECT_TRUE(c->rec->errors().empty());
}

// ---- (f) leave ---------------------------------------------------------------------------

TEST(connection_delivery, leave_stops_delivery) {
  env e;
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  send_sync(e, "bob", R, "one");
  ASSERT_TRUE(has_live(*a.rec, R, 1));
  e.text(a, R"({"type":"leave","room":")" + R + R"(","rid":"L1"})");
  auto left = of_type(a, "left");
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].at("room"), js(R));
  EXPECT_EQ(left[0].at("rid"), "L1");
  EXPECT_FALSE(left[0].contains("reason"));
  auto m2 = send_sync(e, "bob", R, "two");
  e.dispatch(m2);  // and its record again, as from Kafka
  // Not joined any more: a notify, not the message.
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "notify") >= 1; }));
  std::this_thread::sleep_for(40ms);
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), R), (std::vector<std::int64_t>{1}));
}

TEST(connection_delivery, removed_from_group_gets_left_and_nothing_more) {
  env e;
  auto a = e.connect("alice", "s1");
  auto g = e.svc().create_room("bob", "team", {"alice"}).value().id;
  e.join(a, g);
  send_sync(e, "bob", g, "one");
  ASSERT_TRUE(has_live(*a.rec, g, 1));
  ASSERT_TRUE(e.svc().remove_member("bob", g, "alice"));
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "left") == 1; }));
  auto left = of_type(a, "left");
  EXPECT_EQ(left[0].at("room"), js(g));
  EXPECT_EQ(left[0].at("reason"), "removed");
  auto m2 = e.append(g, "bob", "two");
  e.dispatch(m2);
  std::this_thread::sleep_for(40ms);
  settle(e, a);
  EXPECT_EQ(live_seqs(a.rec->frames(), g), (std::vector<std::int64_t>{1}));
}

// ---- (g) ack before the sender's own copy ------------------------------------------------

TEST(connection_delivery, ack_precedes_own_message_copy) {
  env e;
  auto a = e.connect("alice", "s1");
  auto b = e.connect("bob", "s2");
  e.join(a, R);
  e.join(b, R);
  constexpr int n = 30;
  for (int i = 0; i < n; ++i)
    e.text(a, R"({"type":"send","room":")" + R + R"(","text":"t)" + std::to_string(i) +
                  R"(","cid":"c)" + std::to_string(i) + R"(","rid":"r)" + std::to_string(i) +
                  R"("})");
  ASSERT_TRUE(has_live(*a.rec, R, n));
  ASSERT_TRUE(has_live(*b.rec, R, n));
  settle(e, a);
  auto os = parse_all(a.rec->frames());
  std::map<std::int64_t, std::size_t> ack_at, msg_at;
  std::map<std::string, std::int64_t> seq_of_cid;
  for (std::size_t i = 0; i < os.size(); ++i) {
    auto t = type_of(os[i]);
    if (t == "ack") {
      auto seq = os[i].at("seq").as_int64();
      EXPECT_TRUE(ack_at.emplace(seq, i).second) << "two acks for " << seq;
      auto cid = std::string(os[i].at("cid").as_string());
      seq_of_cid[cid] = seq;
      EXPECT_EQ(os[i].at("rid"), js("r" + cid.substr(1)));
      EXPECT_EQ(os[i].at("room"), js(R));
    } else if (t == "message") {
      msg_at.emplace(os[i].at("seq").as_int64(), i);
      EXPECT_EQ(os[i].at("from"), "alice");
    }
  }
  ASSERT_EQ(ack_at.size(), static_cast<std::size_t>(n));
  ASSERT_EQ(msg_at.size(), static_cast<std::size_t>(n));
  for (const auto& [seq, i] : ack_at) {
    ASSERT_TRUE(msg_at.count(seq)) << seq;
    EXPECT_LT(i, msg_at[seq]) << "message " << seq << " before its ack";
  }
  EXPECT_EQ(count_type(b.rec->frames(), "ack"), 0u);  // only to the sending connection

  // A repeated cid: the original ack again, nothing new stored or delivered.
  auto c5 = seq_of_cid.at("c5");
  e.text(a, R"({"type":"send","room":")" + R + R"(","text":"again","cid":"c5"})");
  ASSERT_TRUE(a.rec->wait([&](const auto& fs) { return count_type(fs, "ack") == n + 1; }));
  std::this_thread::sleep_for(30ms);
  settle(e, a);
  auto acks = of_type(a, "ack");
  EXPECT_EQ(acks.back().at("seq"), c5);
  EXPECT_FALSE(acks.back().contains("rid"));
  EXPECT_EQ(live_seqs(a.rec->frames(), R).size(), static_cast<std::size_t>(n));
}

// The cluster failure this guards against: a send stored by a node that died before
// answering, repeated on another node; the original's copy reaches the new connection
// (live record from the outbox relay, or a gap fill) while the repeat is still on its way
// to the store. The copy waits for the repeat's ack, and so does what follows it.
// The last ack `a` got is for `seq`, and it came before the live copy of message `seq`.
void expect_ack_before_copy(const client& a, std::int64_t seq, const std::string& what) {
  auto os = parse_all(a.rec->frames());
  std::optional<std::size_t> ack_at, copy_at;
  for (std::size_t i = 0; i < os.size(); ++i) {
    if (type_of(os[i]) == "ack") ack_at = i;
    if (type_of(os[i]) == "message" && os[i].at("seq").as_int64() == seq) copy_at = i;
  }
  ASSERT_TRUE(ack_at && copy_at) << what;
  EXPECT_EQ(os[*ack_at].at("seq").as_int64(), seq) << what;
  EXPECT_LT(*ack_at, *copy_at) << "own copy before the ack of its repeat (" << what << ")";
}

TEST(connection_delivery, repeated_sends_original_copy_waits_for_its_ack) {
  for (int round = 0; round < 5; ++round) {
    env e;
    auto a = e.connect("alice", "s1");
    e.join(a, R);
    auto before = e.append(R, "bob", "before");                               // seq 1
    auto original = e.append(R, "alice", "lost ack", std::string("c-lost"));  // seq 2
    auto after = e.append(R, "bob", "after");                                 // seq 3
    // The repeat goes to the store, and right after it (same strand handler, so the send
    // is registered first) the stored rows arrive as records, as from Kafka: 2 and 3 must
    // wait for the repeat's ack.
    std::string send = R"({"type":"send","room":")" + R + R"(","text":"lost ack","cid":"c-lost"})";
    e.on_strand(a, [&] {
      a.conn->on_text(send);
      e.dispatch(before);
      e.dispatch(original);
      e.dispatch(after);
    });
    ASSERT_TRUE(has_live(*a.rec, R, 3));
    settle(e, a);
    expect_ack_before_copy(a, original.seq, "round " + std::to_string(round));
    EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, 3));
  }
}

TEST(connection_delivery, own_copy_buffered_before_its_repeat_still_waits_for_the_ack) {
  // The own copy arrives (out of order, so buffered) before the client sends its cid again;
  // when the gap closes the copy must still wait for the repeat's ack. The repeat is
  // answered from the store pool (the send bucket is empty), which is gated until the gap
  // has closed, so the ack comes last unless the copy is held.
  auto opts = env::default_options();
  opts.gap_wait_ms = 5000;  // no gap fill: the gap closes by the record below
  opts.blocking_threads = 1;
  opts.send_rate = 1;  // a bucket of 2, emptied below
  env e(opts);
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  auto first = e.append(R, "bob", "first");                         // seq 1
  auto own = e.append(R, "alice", "mine", std::string("c-early"));  // seq 2
  e.dispatch(own);                                                  // buffered: seq 1 is missing
  e.on_strand(a, [] {});
  while (e.svc().rate_limiter().try_take("alice", rate_limiter::bucket::send)) {
  }
  std::promise<void> pool_gate;
  gate_pool(e, pool_gate);
  e.text(a, R"({"type":"send","room":")" + R + R"(","text":"mine","cid":"c-early"})");
  e.dispatch(first);  // closes the gap while the repeat waits for the pool
  e.on_strand(a, [] {});
  pool_gate.set_value();
  ASSERT_TRUE(has_live(*a.rec, R, 2));
  settle(e, a);
  expect_ack_before_copy(a, own.seq, "buffered before its repeat");
  EXPECT_EQ(live_seqs(a.rec->frames(), R), iota_seqs(1, 2));
}

TEST(connection_delivery, plain_text_goes_to_default_room_with_null_cid) {
  env e;
  auto a = e.connect("alice", "s1", R);  // receiverId=bob
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "history") == 1; }));
  auto os = parse_all(a.rec->frames());
  EXPECT_EQ(type_of(os[0]), "joined");
  EXPECT_EQ(type_of(os[1]), "history");
  e.text(a, "hello bob");
  ASSERT_TRUE(has_live(*a.rec, R, 1));
  auto acks = of_type(a, "ack");
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(acks[0].at("cid").is_null());
  auto msgs = of_type(a, "message");
  EXPECT_EQ(msgs[0].at("text"), "hello bob");
  EXPECT_TRUE(msgs[0].at("cid").is_null());
}

}  // namespace
}  // namespace parley::chat::testing
