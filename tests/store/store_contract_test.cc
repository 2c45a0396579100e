// The store contract (src/store/store.h), run against every backend in all_backends().
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <set>
#include <thread>

#include "base/ids.h"
#include "store/store.h"
#include "store/store_test_backends.h"

namespace parley::store {
namespace {

using namespace std::chrono_literals;
using testing::backend;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

append_request make_req(const std::string& room, const std::string& sender,
                        std::optional<std::string> cid, const std::string& text) {
  append_request r;
  r.room = room;
  r.sender = sender;
  r.cid = std::move(cid);
  r.text = text;
  r.ts = now_ms();
  r.id = ids::new_message_id(r.ts);
  return r;
}

std::future<result<append_result>> append_async(store& s, append_request r) {
  auto p = std::make_shared<std::promise<result<append_result>>>();
  auto f = p->get_future();
  s.append(std::move(r), [p](result<append_result> res) { p->set_value(std::move(res)); });
  return f;
}

result<append_result> wait(std::future<result<append_result>>& f) {
  if (f.wait_for(30s) != std::future_status::ready) {
    ADD_FAILURE() << "append callback did not run";
    return make_error_code(errc::internal);
  }
  return f.get();
}

// Holds the writer inside an append callback until release(), so that appends queued
// meanwhile are committed together (on backends that batch; harmless on others).
class writer_gate {
 public:
  explicit writer_gate(store& s) : released_(release_.get_future().share()) {
    auto entered = std::make_shared<std::promise<void>>();
    auto entered_f = entered->get_future();
    s.append(make_req("g:gate", "gate", std::nullopt, "gate"),
             [entered, rel = released_](result<append_result>) {
               entered->set_value();
               (void)rel.wait_for(10s);
             });
    (void)entered_f.wait_for(10s);
  }
  void release() { release_.set_value(); }

 private:
  std::promise<void> release_;
  std::shared_future<void> released_;
};

class store_contract : public ::testing::TestWithParam<backend> {
 protected:
  void SetUp() override {
    if (auto why = GetParam().skip_reason(); !why.empty()) GTEST_SKIP() << why;
    opts_ = GetParam().fresh(::testing::UnitTest::GetInstance()->current_test_info()->name());
    s_ = open();
    ASSERT_TRUE(s_);
  }
  void TearDown() override {
    s_.reset();
    if (!opts_.url.empty()) GetParam().cleanup(opts_);
  }

  std::unique_ptr<store> open() {
    std::string why;
    auto r = make_store(opts_, why);
    EXPECT_TRUE(r) << why;
    return r ? std::move(r).value() : nullptr;
  }

  result<append_result> append(const std::string& room, const std::string& sender,
                               std::optional<std::string> cid = std::nullopt,
                               const std::string& text = "hi") {
    auto f = append_async(*s_, make_req(room, sender, std::move(cid), text));
    return wait(f);
  }

  void group(const std::string& id, std::vector<std::string> members) {
    auto r = s_->create_group(id, "name of " + id, members.front(), members, now_ms());
    ASSERT_TRUE(r) << r.error().message();
  }

  // Appends n messages to room (texts "m1".."mn").
  void fill(const std::string& room, const std::string& sender, int n) {
    for (int i = 1; i <= n; ++i) {
      auto r = append(room, sender, std::nullopt, "m" + std::to_string(i));
      ASSERT_TRUE(r) << r.error().message();
    }
  }

  static std::vector<std::int64_t> seqs(const std::vector<message>& ms) {
    std::vector<std::int64_t> out;
    for (const auto& m : ms) out.push_back(m.seq);
    return out;
  }
  static std::vector<std::int64_t> iota(std::int64_t a, std::int64_t b) {
    std::vector<std::int64_t> out;
    for (auto i = a; i <= b; ++i) out.push_back(i);
    return out;
  }

  options opts_;
  std::unique_ptr<store> s_;
};

TEST_P(store_contract, ping) { EXPECT_TRUE(s_->ping()); }

TEST_P(store_contract, seq_contiguous_under_concurrent_appends) {
  group("g:a", {"t0", "t1"});
  group("g:b", {"t0", "t1"});
  group("g:c", {"t0", "t1"});
  const std::vector<std::string> rooms = {"g:a", "g:b", "g:c", "dm:u0:u1", "dm:u1:u2"};
  constexpr int threads = 8, per_thread = 150;

  // futures[thread][room] in issue order
  std::vector<std::map<std::string, std::vector<std::future<result<append_result>>>>> futures(
      threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) {
        const auto& room = rooms[(i * 7 + t) % rooms.size()];
        std::string sender = "t" + std::to_string(t);
        if (room == "dm:u0:u1") sender = t % 2 ? "u0" : "u1";
        if (room == "dm:u1:u2") sender = t % 2 ? "u1" : "u2";
        auto cid =
            (i % 3 == 0)
                ? std::optional<std::string>("c" + std::to_string(t) + "-" + std::to_string(i))
                : std::nullopt;
        futures[t][room].push_back(append_async(*s_, make_req(room, sender, cid, "x")));
      }
    });
  }
  for (auto& t : ts) t.join();

  std::map<std::string, std::set<std::int64_t>> by_room;
  std::size_t total = 0;
  for (auto& per_room : futures) {
    for (auto& [room, fs] : per_room) {
      std::int64_t prev = 0;
      for (auto& f : fs) {
        auto r = wait(f);
        ASSERT_TRUE(r) << r.error().message();
        EXPECT_FALSE(r.value().duplicate);
        EXPECT_GT(r.value().msg.seq, prev) << "one thread's appends keep their order";
        prev = r.value().msg.seq;
        EXPECT_TRUE(by_room[room].insert(r.value().msg.seq).second) << "seq reused";
        ++total;
      }
    }
  }
  EXPECT_EQ(total, std::size_t{threads * per_thread});
  for (const auto& room : rooms) {
    const auto& got = by_room[room];
    auto n = static_cast<std::int64_t>(got.size());
    ASSERT_GT(n, 0);
    EXPECT_EQ(*got.begin(), 1);
    EXPECT_EQ(*got.rbegin(), n) << room << ": seqs have a gap";
    auto info = s_->get_room(room);
    ASSERT_TRUE(info);
    EXPECT_EQ(info.value().last_seq, n);
    auto all = s_->range(room, 1, n);
    ASSERT_TRUE(all);
    EXPECT_EQ(seqs(all.value()), iota(1, n));
  }
}

// options.commit_interval reaches the writer: a batch starts at most once per interval, so
// two appends made one after the other (the second queued after the first committed) are
// committed in two transactions at least one interval apart.
TEST_P(store_contract, commit_interval_paces_group_commits) {
  constexpr auto interval = 400ms;
  s_.reset();
  opts_.commit_interval = interval;
  s_ = open();
  ASSERT_TRUE(s_);
  group("g:p", {"a", "b"});
  auto t0 = std::chrono::steady_clock::now();  // the first batch starts after this
  auto first = append("g:p", "a");
  ASSERT_TRUE(first) << first.error().message();
  auto second = append("g:p", "b");
  ASSERT_TRUE(second) << second.error().message();
  EXPECT_GE(std::chrono::steady_clock::now() - t0, interval);
  EXPECT_EQ(first.value().msg.seq, 1);
  EXPECT_EQ(second.value().msg.seq, 2);
}

TEST_P(store_contract, idempotent_cid_sequential) {
  group("g:r", {"alice", "bob"});
  auto first = append("g:r", "alice", "c1", "one");
  ASSERT_TRUE(first);
  EXPECT_FALSE(first.value().duplicate);
  EXPECT_EQ(first.value().msg.seq, 1);
  EXPECT_EQ(first.value().msg.cid, std::optional<std::string>("c1"));

  auto again = append("g:r", "alice", "c1", "different text");
  ASSERT_TRUE(again);
  EXPECT_TRUE(again.value().duplicate);
  EXPECT_EQ(again.value().msg.seq, 1);
  EXPECT_EQ(again.value().msg.id, first.value().msg.id);
  EXPECT_EQ(again.value().msg.text, "one");
  EXPECT_EQ(again.value().msg.ts, first.value().msg.ts);
  EXPECT_EQ(again.value().msg.sender, "alice");

  // Same cid from another sender, or without cid: new rows.
  auto other = append("g:r", "bob", "c1");
  ASSERT_TRUE(other);
  EXPECT_FALSE(other.value().duplicate);
  EXPECT_EQ(other.value().msg.seq, 2);
  auto none1 = append("g:r", "alice");
  auto none2 = append("g:r", "alice");
  ASSERT_TRUE(none1 && none2);
  EXPECT_EQ(none1.value().msg.seq, 3);
  EXPECT_EQ(none2.value().msg.seq, 4);
  EXPECT_FALSE(none2.value().msg.cid);
  // Same cid and sender in another room: a new row.
  auto dm = append("dm:alice:bob", "alice", "c1");
  ASSERT_TRUE(dm);
  EXPECT_FALSE(dm.value().duplicate);
  EXPECT_EQ(dm.value().msg.seq, 1);

  auto h = s_->history("g:r", std::nullopt, 50);
  ASSERT_TRUE(h);
  EXPECT_EQ(seqs(h.value().messages), iota(1, 4));
}

TEST_P(store_contract, find_cid) {
  group("g:r", {"alice", "bob"});
  auto first = append("g:r", "alice", "c1", "one");
  ASSERT_TRUE(first);
  auto found = s_->find_cid("g:r", "alice", "c1");
  ASSERT_TRUE(found);
  ASSERT_TRUE(found.value());
  EXPECT_EQ(found.value()->seq, first.value().msg.seq);
  EXPECT_EQ(found.value()->id, first.value().msg.id);
  EXPECT_EQ(found.value()->text, "one");
  auto other_sender = s_->find_cid("g:r", "bob", "c1");
  ASSERT_TRUE(other_sender);
  EXPECT_FALSE(other_sender.value());
  auto other_cid = s_->find_cid("g:r", "alice", "c2");
  ASSERT_TRUE(other_cid);
  EXPECT_FALSE(other_cid.value());
}

TEST_P(store_contract, idempotent_cid_racing_repeats) {
  group("g:r", {"alice"});
  constexpr int threads = 8, repeats = 20;
  std::vector<std::vector<std::future<result<append_result>>>> fs(threads);
  std::vector<std::thread> ts;
  for (int t = 0; t < threads; ++t)
    ts.emplace_back([&, t] {
      for (int i = 0; i < repeats; ++i) {
        fs[t].push_back(
            append_async(*s_, make_req("g:r", "alice", "same", "t" + std::to_string(t))));
        fs[t].push_back(
            append_async(*s_, make_req("g:r", "alice", "own-" + std::to_string(t), "")));
      }
    });
  for (auto& t : ts) t.join();
  int originals = 0;
  std::set<std::string> ids;
  std::set<std::int64_t> same_seqs, all_seqs;
  for (auto& v : fs)
    for (auto& f : v) {
      auto r = wait(f);
      ASSERT_TRUE(r) << r.error().message();
      all_seqs.insert(r.value().msg.seq);
      if (r.value().msg.cid == std::optional<std::string>("same")) {
        originals += r.value().duplicate ? 0 : 1;
        ids.insert(r.value().msg.id);
        same_seqs.insert(r.value().msg.seq);
      }
    }
  EXPECT_EQ(originals, 1);
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(same_seqs.size(), 1u);
  // 1 "same" row + one row per thread's own cid.
  auto info = s_->get_room("g:r");
  ASSERT_TRUE(info);
  EXPECT_EQ(info.value().last_seq, threads + 1);
  EXPECT_EQ(all_seqs.size(), std::size_t{threads + 1});
}

TEST_P(store_contract, repeat_within_one_batch) {
  group("g:gate", {"gate"});
  group("g:r", {"alice"});
  writer_gate gate(*s_);
  auto a = append_async(*s_, make_req("g:r", "alice", "k", "first"));
  auto b = append_async(*s_, make_req("g:r", "alice", "k", "second"));
  auto c = append_async(*s_, make_req("g:r", "alice", "k2", "third"));
  gate.release();
  auto ra = wait(a), rb = wait(b), rc = wait(c);
  ASSERT_TRUE(ra && rb && rc);
  EXPECT_FALSE(ra.value().duplicate);
  EXPECT_TRUE(rb.value().duplicate);
  EXPECT_EQ(rb.value().msg.seq, ra.value().msg.seq);
  EXPECT_EQ(rb.value().msg.id, ra.value().msg.id);
  EXPECT_EQ(rb.value().msg.text, "first");
  EXPECT_EQ(rc.value().msg.seq, 2);
}

TEST_P(store_contract, failing_append_does_not_fail_its_batch) {
  group("g:gate", {"gate"});
  group("g:r", {"alice"});
  writer_gate gate(*s_);
  auto ok1 = append_async(*s_, make_req("g:r", "alice", "a", "1"));
  auto no_room = append_async(*s_, make_req("g:missing", "alice", std::nullopt, "x"));
  auto third = append_async(*s_, make_req("dm:bob:carol", "alice", std::nullopt, "x"));
  auto bad_dm = append_async(*s_, make_req("dm:bob:alice", "alice", std::nullopt, "x"));
  auto ok2 = append_async(*s_, make_req("g:r", "alice", "b", "2"));
  // Reuses ok2's message id: fails after its seq was taken; that seq must be given back.
  auto reuse = make_req("g:r", "alice", "c", "3");
  auto ok3 = append_async(*s_, make_req("g:r", "alice", "d", "4"));
  gate.release();

  auto r1 = wait(ok1), r2 = wait(ok2), r3 = wait(ok3);
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1.value().msg.seq, 1);
  EXPECT_EQ(r2.value().msg.seq, 2);
  EXPECT_EQ(r3.value().msg.seq, 3);
  auto e1 = wait(no_room), e2 = wait(third), e3 = wait(bad_dm);
  ASSERT_FALSE(e1);
  EXPECT_EQ(e1.error(), errc::not_found);
  ASSERT_FALSE(e2);
  EXPECT_EQ(e2.error(), errc::invalid);
  ASSERT_FALSE(e3);
  EXPECT_EQ(e3.error(), errc::invalid);

  // A message id already used: conflict, nothing stored, no seq consumed.
  writer_gate gate2(*s_);
  auto before = append_async(*s_, make_req("g:r", "alice", "e", "5"));
  reuse.id = r2.value().msg.id;
  auto dup_id = append_async(*s_, std::move(reuse));
  auto after = append_async(*s_, make_req("g:r", "alice", "f", "6"));
  gate2.release();
  auto rb = wait(before), rd = wait(dup_id), ra = wait(after);
  ASSERT_TRUE(rb && ra);
  ASSERT_FALSE(rd);
  EXPECT_EQ(rd.error(), errc::conflict);
  EXPECT_EQ(rb.value().msg.seq, 4);
  EXPECT_EQ(ra.value().msg.seq, 5);
  auto all = s_->range("g:r", 1, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(seqs(all.value()), iota(1, 5));
  EXPECT_FALSE(s_->get_room("g:missing"));
}

// One batch that mixes rooms, appends without cid, a repeat of a stored cid, repeats inside
// the batch and texts that need quoting.
TEST_P(store_contract, mixed_batch_keeps_queue_order_per_room) {
  group("g:gate", {"gate"});
  group("g:a", {"alice", "bob"});
  group("g:b", {"alice", "bob"});
  auto stored = append("g:a", "alice", "s1", "stored");
  ASSERT_TRUE(stored);
  const std::vector<std::string> texts = {
      "plain",           "",     "with \"quotes\"", "back\\slash",
      "{braces},commas", "NULL", "  spaced  ",      "caf\xc3\xa9 \xf0\x9f\x92\xac",
      "line\nbreak"};
  writer_gate gate(*s_);
  std::vector<std::future<result<append_result>>> a_new, b_new;
  for (std::size_t i = 0; i < texts.size(); ++i) {
    auto& room = i % 2 ? b_new : a_new;
    room.push_back(append_async(
        *s_,
        make_req(i % 2 ? "g:b" : "g:a", i % 3 ? "bob" : "alice",
                 i % 4 == 3 ? std::nullopt : std::optional<std::string>("c" + std::to_string(i)),
                 texts[i])));
  }
  auto rep_stored = append_async(*s_, make_req("g:a", "alice", "s1", "ignored"));
  auto rep_batch = append_async(*s_, make_req("g:a", "alice", "c0", "ignored too"));
  auto missing = append_async(*s_, make_req("g:nope", "alice", "c0", "x"));
  gate.release();

  std::int64_t want_a = 2, want_b = 1;
  for (std::size_t i = 0, ia = 0, ib = 0; i < texts.size(); ++i) {
    auto r = wait(i % 2 ? b_new[ib++] : a_new[ia++]);
    ASSERT_TRUE(r) << i;
    EXPECT_FALSE(r.value().duplicate) << i;
    EXPECT_EQ(r.value().msg.seq, i % 2 ? want_b++ : want_a++) << i;
    EXPECT_EQ(r.value().msg.text, texts[i]) << i;
  }
  auto rs = wait(rep_stored);
  ASSERT_TRUE(rs);
  EXPECT_TRUE(rs.value().duplicate);
  EXPECT_EQ(rs.value().msg.seq, 1);
  EXPECT_EQ(rs.value().msg.text, "stored");
  EXPECT_EQ(rs.value().msg.id, stored.value().msg.id);
  auto rb = wait(rep_batch);
  ASSERT_TRUE(rb);
  EXPECT_TRUE(rb.value().duplicate);
  EXPECT_EQ(rb.value().msg.seq, 2);
  EXPECT_EQ(rb.value().msg.text, "plain");
  auto rm = wait(missing);
  ASSERT_FALSE(rm);
  EXPECT_EQ(rm.error(), errc::not_found);

  // What was stored reads back byte for byte, numbered without a gap.
  auto a = s_->range("g:a", 1, 100), b = s_->range("g:b", 1, 100);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(seqs(a.value()), iota(1, want_a - 1));
  EXPECT_EQ(seqs(b.value()), iota(1, want_b - 1));
  for (std::size_t i = 0; i < texts.size(); ++i) {
    const auto& rows = i % 2 ? b.value() : a.value();
    auto it = std::find_if(rows.begin(), rows.end(), [&](const message& m) {
      return m.cid == (i % 4 == 3 ? std::nullopt
                                  : std::optional<std::string>("c" + std::to_string(i))) &&
             m.text == texts[i];
    });
    EXPECT_NE(it, rows.end()) << i;
  }
  EXPECT_EQ(s_->get_room("g:a").value().last_seq, want_a - 1);
  EXPECT_EQ(s_->get_room("g:b").value().last_seq, want_b - 1);
}

// U+0000 cannot be stored by PostgreSQL: both backends refuse it in a text, a cid or a room
// name, and a refused append does not fail its batch.
TEST_P(store_contract, nul_bytes_are_refused_alone) {
  group("g:gate", {"gate"});
  group("g:r", {"alice"});
  writer_gate gate(*s_);
  auto ok1 = append_async(*s_, make_req("g:r", "alice", "a", "1"));
  auto bad_text = append_async(*s_, make_req("g:r", "alice", "b", std::string("x\0y", 3)));
  auto bad_cid = append_async(*s_, make_req("g:r", "alice", std::string("c\0d", 3), "z"));
  auto ok2 = append_async(*s_, make_req("g:r", "alice", "e", "2"));
  gate.release();
  auto r1 = wait(ok1), r2 = wait(ok2), e1 = wait(bad_text), e2 = wait(bad_cid);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1.value().msg.seq, 1);
  EXPECT_EQ(r2.value().msg.seq, 2);
  ASSERT_FALSE(e1);
  EXPECT_EQ(e1.error(), errc::invalid);
  ASSERT_FALSE(e2);
  EXPECT_EQ(e2.error(), errc::invalid);
  EXPECT_EQ(s_->range("g:r", 1, 10).value().size(), 2u);
  auto g = s_->create_group("g:nul", std::string("a\0b", 3), "alice", {"alice"}, now_ms());
  ASSERT_FALSE(g);
  EXPECT_EQ(g.error(), errc::invalid);
}

// The same message (same id and content) appended again, as PostgreSQL's writer does when it
// runs a batch again after the connection was lost with the commit's answer: stored once,
// answered with its row as stored (it was never published). Another message's id is a
// conflict.
TEST_P(store_contract, same_message_appended_again_is_stored_once) {
  group("g:gate", {"gate"});
  group("g:r", {"alice"});
  std::int64_t want = 0;
  for (const auto& cid : {std::optional<std::string>{}, std::optional<std::string>{"k"}}) {
    auto req = make_req("g:r", "alice", cid, "once");
    auto fa = append_async(*s_, req);
    auto a = wait(fa);
    auto fb = append_async(*s_, req);
    auto b = wait(fb);
    ASSERT_TRUE(a && b);
    EXPECT_EQ(a.value().msg.seq, ++want);
    EXPECT_FALSE(b.value().duplicate);
    EXPECT_EQ(b.value().msg.seq, want);
    EXPECT_EQ(b.value().msg.id, req.id);
    EXPECT_EQ(b.value().msg.text, "once");
  }
  // Twice in one batch.
  auto req = make_req("g:r", "alice", std::nullopt, "twice in a batch");
  writer_gate gate(*s_);
  auto f1 = append_async(*s_, req);
  auto f2 = append_async(*s_, req);
  auto after = append_async(*s_, make_req("g:r", "alice", std::nullopt, "after"));
  gate.release();
  auto r1 = wait(f1), r2 = wait(f2), r3 = wait(after);
  ASSERT_TRUE(r1 && r2 && r3);
  EXPECT_EQ(r1.value().msg.seq, ++want);
  EXPECT_EQ(r2.value().msg.seq, want);
  EXPECT_EQ(r3.value().msg.seq, ++want);
  // The same id with other content: a conflict, nothing stored.
  auto other = make_req("g:r", "alice", std::nullopt, "different");
  other.id = req.id;
  auto fo = append_async(*s_, std::move(other));
  auto ro = wait(fo);
  ASSERT_FALSE(ro);
  EXPECT_EQ(ro.error(), errc::conflict);
  auto all = s_->range("g:r", 1, 100);
  ASSERT_TRUE(all);
  EXPECT_EQ(seqs(all.value()), iota(1, want));
}

TEST_P(store_contract, direct_room_created_on_first_append) {
  EXPECT_EQ(s_->get_room("dm:alice:bob").error(), errc::not_found);
  auto r = append("dm:alice:bob", "bob", std::nullopt, "hello");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().msg.seq, 1);
  auto room = s_->get_room("dm:alice:bob");
  ASSERT_TRUE(room);
  EXPECT_EQ(room.value().kind, room_kind::direct);
  EXPECT_EQ(room.value().last_seq, 1);
  EXPECT_EQ(room.value().members, (std::vector<std::string>{"alice", "bob"}));
  for (const auto* u : {"alice", "bob"}) {
    auto j = s_->snapshot_for_join("dm:alice:bob", u, std::nullopt, 50);
    ASSERT_TRUE(j);
    EXPECT_EQ(j.value().read_seq, 0);
    EXPECT_EQ(j.value().last_seq, 1);
  }
  EXPECT_EQ(s_->snapshot_for_join("dm:alice:bob", "carol", std::nullopt, 50).error(), errc::not_found);

  // Notes to self: one member.
  ASSERT_TRUE(append("dm:alice:alice", "alice"));
  auto self = s_->members("dm:alice:alice");
  ASSERT_TRUE(self);
  EXPECT_EQ(self.value(), (std::vector<std::string>{"alice"}));

  // ensure_direct_room: idempotent, keeps existing rows, refuses bad ids.
  ASSERT_TRUE(s_->ensure_direct_room("dm:alice:bob", now_ms()));
  EXPECT_EQ(s_->get_room("dm:alice:bob").value().last_seq, 1);
  ASSERT_TRUE(s_->ensure_direct_room("dm:carol:dave", now_ms()));
  ASSERT_TRUE(s_->ensure_direct_room("dm:carol:dave", now_ms()));
  auto cd = s_->get_room("dm:carol:dave");
  ASSERT_TRUE(cd);
  EXPECT_EQ(cd.value().last_seq, 0);
  EXPECT_EQ(cd.value().members, (std::vector<std::string>{"carol", "dave"}));
  EXPECT_EQ(s_->ensure_direct_room("dm:bob:alice", now_ms()).error(), errc::invalid);
  EXPECT_EQ(s_->ensure_direct_room("g:x", now_ms()).error(), errc::invalid);

  // Membership of a direct room cannot change.
  EXPECT_EQ(s_->add_member("dm:alice:bob", "carol", now_ms()).error(), errc::invalid);
  EXPECT_EQ(s_->remove_member("dm:alice:bob", "bob").error(), errc::invalid);
  EXPECT_TRUE(s_->is_member("dm:alice:bob", "alice").value());
  EXPECT_FALSE(s_->is_member("dm:alice:bob", "carol").value());
}

TEST_P(store_contract, create_group_and_conflict) {
  auto r = s_->create_group("g:team", "Team", "alice", {"bob", "alice", "bob", "carol"}, 1234);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().members, (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_EQ(r.value().kind, room_kind::group);
  EXPECT_EQ(r.value().last_seq, 0);

  auto again = s_->create_group("g:team", "Other", "dave", {"dave"}, 1235);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), errc::conflict);

  auto got = s_->get_room("g:team");
  ASSERT_TRUE(got);
  EXPECT_EQ(got.value().name, "Team");
  EXPECT_EQ(got.value().created_by, "alice");
  EXPECT_EQ(got.value().created_at, 1234);
  EXPECT_EQ(got.value().members, (std::vector<std::string>{"alice", "bob", "carol"}));

  EXPECT_EQ(s_->get_room("g:nope").error(), errc::not_found);
  EXPECT_EQ(s_->members("g:nope").error(), errc::not_found);
  EXPECT_EQ(s_->create_group("dm:a:b", "x", "a", {"a"}, 1).error(), errc::invalid);
  EXPECT_EQ(s_->create_group("g:bad id", "x", "a", {"a"}, 1).error(), errc::invalid);
}

TEST_P(store_contract, add_and_remove_member) {
  group("g:r", {"alice"});
  EXPECT_EQ(s_->add_member("g:r", "bob", now_ms()).value(), true);
  EXPECT_EQ(s_->add_member("g:r", "bob", now_ms()).value(), false);
  EXPECT_EQ(s_->members("g:r").value(), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_TRUE(s_->is_member("g:r", "bob").value());
  EXPECT_EQ(s_->remove_member("g:r", "bob").value(), true);
  EXPECT_EQ(s_->remove_member("g:r", "bob").value(), false);
  EXPECT_FALSE(s_->is_member("g:r", "bob").value());
  EXPECT_EQ(s_->members("g:r").value(), (std::vector<std::string>{"alice"}));
  EXPECT_EQ(s_->add_member("g:none", "bob", now_ms()).error(), errc::not_found);
  EXPECT_EQ(s_->remove_member("g:none", "bob").error(), errc::not_found);
  EXPECT_FALSE(s_->is_member("g:none", "bob").value());

  // A member added later starts with read_seq 0.
  fill("g:r", "alice", 3);
  ASSERT_TRUE(s_->add_member("g:r", "carol", now_ms()).value());
  EXPECT_EQ(s_->snapshot_for_join("g:r", "carol", 0, 10).value().read_seq, 0);
}

TEST_P(store_contract, members_of_many_rooms) {
  EXPECT_TRUE(s_->members_of({}).value().empty());
  // More rooms than PostgreSQL's store asks for in one query (1,000).
  std::vector<std::string> ids;
  for (int i = 0; i < 1001; ++i) {
    ids.push_back("g:m" + std::to_string(i));
    ASSERT_TRUE(s_->create_group(ids.back(), "", "zed", {"zed", "u" + std::to_string(i)}, 1));
  }
  ASSERT_TRUE(s_->remove_member("g:m7", "u7").value());
  ASSERT_TRUE(s_->remove_member("g:m7", "zed").value());
  ids.push_back("g:nope");  // no such room: left out
  ids.push_back("g:m5");    // asked twice: once in the answer
  auto got = s_->members_of(ids);
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got.value().size(), 1001u);
  EXPECT_FALSE(got.value().contains("g:nope"));
  EXPECT_EQ(got.value().at("g:m0"), (std::vector<std::string>{"u0", "zed"}));
  EXPECT_EQ(got.value().at("g:m5"), (std::vector<std::string>{"u5", "zed"}));
  EXPECT_EQ(got.value().at("g:m1000"), (std::vector<std::string>{"u1000", "zed"}));
  EXPECT_TRUE(got.value().at("g:m7").empty());  // exists, no member left
  for (int i = 0; i < 1001; ++i) {
    if (i == 7) continue;
    auto id = "g:m" + std::to_string(i);
    EXPECT_EQ(got.value().at(id), s_->members(id).value()) << id;
  }
}

TEST_P(store_contract, rooms_of) {
  group("g:b", {"alice", "bob"});
  group("g:a", {"alice"});
  ASSERT_TRUE(s_->ensure_direct_room("dm:alice:carol", now_ms()));  // no message: hidden
  ASSERT_TRUE(append("dm:alice:bob", "bob"));
  ASSERT_TRUE(append("dm:alice:bob", "alice"));
  ASSERT_TRUE(append("g:b", "bob"));
  ASSERT_TRUE(s_->set_read("g:b", "alice", 1));

  auto rs = s_->rooms_of("alice");
  ASSERT_TRUE(rs);
  std::vector<std::string> ids;
  for (const auto& r : rs.value()) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"dm:alice:bob", "g:a", "g:b"}));
  const auto& dm = rs.value()[0];
  EXPECT_EQ(dm.kind, room_kind::direct);
  EXPECT_EQ(dm.last_seq, 2);
  EXPECT_EQ(dm.read_seq, 0);
  EXPECT_EQ(rs.value()[1].name, "name of g:a");
  EXPECT_EQ(rs.value()[1].last_seq, 0);
  EXPECT_EQ(rs.value()[2].last_seq, 1);
  EXPECT_EQ(rs.value()[2].read_seq, 1);

  EXPECT_TRUE(s_->rooms_of("nobody").value().empty());
  EXPECT_EQ(s_->rooms_of("carol").value().size(), 0u);
}

TEST_P(store_contract, history_paging) {
  group("g:r", {"alice"});
  auto empty = s_->history("g:r", std::nullopt, 50);
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty.value().messages.empty());
  EXPECT_FALSE(empty.value().more);
  EXPECT_EQ(s_->history("g:none", std::nullopt, 50).error(), errc::not_found);

  fill("g:r", "alice", 10);
  auto newest = s_->history("g:r", std::nullopt, 3).value();
  EXPECT_EQ(seqs(newest.messages), iota(8, 10));
  EXPECT_TRUE(newest.more);
  EXPECT_EQ(newest.messages[0].text, "m8");
  EXPECT_EQ(newest.messages[0].sender, "alice");
  EXPECT_EQ(newest.messages[0].room, "g:r");

  auto b1 = s_->history("g:r", 1, 50).value();
  EXPECT_TRUE(b1.messages.empty());
  EXPECT_FALSE(b1.more);
  auto b0 = s_->history("g:r", 0, 50).value();
  EXPECT_TRUE(b0.messages.empty());
  EXPECT_FALSE(b0.more);

  auto beyond = s_->history("g:r", 100, 4).value();
  EXPECT_EQ(seqs(beyond.messages), iota(7, 10));
  EXPECT_TRUE(beyond.more);

  auto big = s_->history("g:r", std::nullopt, 50).value();
  EXPECT_EQ(seqs(big.messages), iota(1, 10));
  EXPECT_FALSE(big.more);

  auto exact = s_->history("g:r", std::nullopt, 10).value();  // exactly all of them
  EXPECT_EQ(seqs(exact.messages), iota(1, 10));
  EXPECT_FALSE(exact.more);

  auto first_page = s_->history("g:r", 4, 3).value();  // 1..3: nothing older
  EXPECT_EQ(seqs(first_page.messages), iota(1, 3));
  EXPECT_FALSE(first_page.more);
  auto mid = s_->history("g:r", 5, 3).value();  // 2..4: 1 remains
  EXPECT_EQ(seqs(mid.messages), iota(2, 4));
  EXPECT_TRUE(mid.more);

  // Walking back page by page visits every message once.
  std::vector<std::int64_t> walked;
  std::optional<std::int64_t> before;
  for (;;) {
    auto p = s_->history("g:r", before, 4).value();
    auto page_seqs = seqs(p.messages);
    walked.insert(walked.begin(), page_seqs.begin(), page_seqs.end());
    if (!p.more) break;
    before = p.messages.front().seq;
  }
  EXPECT_EQ(walked, iota(1, 10));
}

TEST_P(store_contract, after_paging) {
  group("g:r", {"alice"});
  auto empty = s_->page_after("g:r", 0, 5).value();
  EXPECT_TRUE(empty.messages.empty());
  EXPECT_FALSE(empty.more);
  EXPECT_EQ(s_->page_after("g:none", 0, 5).error(), errc::not_found);

  fill("g:r", "alice", 10);
  auto p = s_->page_after("g:r", 0, 3).value();
  EXPECT_EQ(seqs(p.messages), iota(1, 3));
  EXPECT_TRUE(p.more);
  p = s_->page_after("g:r", 6, 3).value();
  EXPECT_EQ(seqs(p.messages), iota(7, 9));
  EXPECT_TRUE(p.more);
  p = s_->page_after("g:r", 7, 3).value();  // exact boundary
  EXPECT_EQ(seqs(p.messages), iota(8, 10));
  EXPECT_FALSE(p.more);
  p = s_->page_after("g:r", 10, 3).value();
  EXPECT_TRUE(p.messages.empty());
  EXPECT_FALSE(p.more);
  p = s_->page_after("g:r", 100, 3).value();
  EXPECT_TRUE(p.messages.empty());
  EXPECT_FALSE(p.more);
  p = s_->page_after("g:r", 0, 100).value();
  EXPECT_EQ(seqs(p.messages), iota(1, 10));
  EXPECT_FALSE(p.more);
}

TEST_P(store_contract, range) {
  group("g:r", {"alice"});
  EXPECT_TRUE(s_->range("g:r", 1, 10).value().empty());
  fill("g:r", "alice", 10);
  EXPECT_EQ(seqs(s_->range("g:r", 3, 5).value()), iota(3, 5));
  EXPECT_EQ(seqs(s_->range("g:r", 4, 4).value()), iota(4, 4));
  EXPECT_EQ(seqs(s_->range("g:r", 9, 20).value()), iota(9, 10));
  EXPECT_EQ(seqs(s_->range("g:r", 0, 2).value()), iota(1, 2));
  EXPECT_TRUE(s_->range("g:r", 5, 4).value().empty());
  EXPECT_TRUE(s_->range("g:r", 11, 20).value().empty());
  auto one = s_->range("g:r", 7, 7).value();
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].text, "m7");
  EXPECT_EQ(s_->range("g:none", 1, 2).error(), errc::not_found);
}

TEST_P(store_contract, join) {
  group("g:r", {"alice", "bob"});
  auto j0 = s_->snapshot_for_join("g:r", "alice", std::nullopt, 50).value();
  EXPECT_EQ(j0.last_seq, 0);
  EXPECT_TRUE(j0.replay.messages.empty());
  EXPECT_FALSE(j0.replay.more);
  EXPECT_EQ(s_->snapshot_for_join("g:none", "alice", std::nullopt, 50).error(), errc::not_found);
  EXPECT_EQ(s_->snapshot_for_join("g:r", "carol", std::nullopt, 50).error(), errc::not_found);

  fill("g:r", "bob", 10);
  ASSERT_TRUE(s_->set_read("g:r", "alice", 4));

  auto latest = s_->snapshot_for_join("g:r", "alice", std::nullopt, 3).value();
  EXPECT_EQ(latest.last_seq, 10);
  EXPECT_EQ(latest.read_seq, 4);
  EXPECT_EQ(seqs(latest.replay.messages), iota(8, 10));
  EXPECT_TRUE(latest.replay.more);
  auto all = s_->snapshot_for_join("g:r", "alice", std::nullopt, 10).value();
  EXPECT_EQ(seqs(all.replay.messages), iota(1, 10));
  EXPECT_FALSE(all.replay.more);

  auto since = s_->snapshot_for_join("g:r", "alice", 4, 3).value();
  EXPECT_EQ(seqs(since.replay.messages), iota(5, 7));
  EXPECT_TRUE(since.replay.more);
  since = s_->snapshot_for_join("g:r", "alice", 7, 3).value();
  EXPECT_EQ(seqs(since.replay.messages), iota(8, 10));
  EXPECT_FALSE(since.replay.more);
  since = s_->snapshot_for_join("g:r", "alice", 0, 200).value();
  EXPECT_EQ(seqs(since.replay.messages), iota(1, 10));
  EXPECT_FALSE(since.replay.more);
  auto caught_up = s_->snapshot_for_join("g:r", "alice", 10, 3).value();
  EXPECT_TRUE(caught_up.replay.messages.empty());
  EXPECT_FALSE(caught_up.replay.more);
  auto ahead = s_->snapshot_for_join("g:r", "alice", 999, 3).value();  // clamped to last_seq
  EXPECT_EQ(ahead.last_seq, 10);
  EXPECT_TRUE(ahead.replay.messages.empty());
  EXPECT_FALSE(ahead.replay.more);
}

TEST_P(store_contract, join_is_one_snapshot) {
  group("g:r", {"alice"});
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    while (!stop) {
      auto f = append_async(*s_, make_req("g:r", "alice", std::nullopt, "x"));
      (void)wait(f);
    }
  });
  for (int i = 0; i < 200; ++i) {
    auto j = s_->snapshot_for_join("g:r", "alice", std::nullopt, 5);
    ASSERT_TRUE(j);
    const auto& ms = j.value().replay.messages;
    if (!ms.empty()) {
      EXPECT_EQ(ms.back().seq, j.value().last_seq);
    }
    auto k = s_->snapshot_for_join("g:r", "alice", 0, 1000);
    ASSERT_TRUE(k);
    if (!k.value().replay.more) {
      EXPECT_EQ(static_cast<std::int64_t>(k.value().replay.messages.size()), k.value().last_seq);
    }
  }
  stop = true;
  writer.join();
}

TEST_P(store_contract, read_markers) {
  group("g:r", {"alice", "bob"});
  EXPECT_EQ(s_->set_read("g:r", "alice", 3).value(), 0) << "clamped to last_seq 0";
  fill("g:r", "bob", 10);
  EXPECT_EQ(s_->set_read("g:r", "alice", 5).value(), 5);
  EXPECT_EQ(s_->set_read("g:r", "alice", 3).value(), 5) << "never backwards";
  EXPECT_EQ(s_->set_read("g:r", "alice", -1).value(), 5);
  EXPECT_EQ(s_->set_read("g:r", "alice", 5).value(), 5);
  EXPECT_EQ(s_->set_read("g:r", "alice", 100).value(), 10) << "clamped to last_seq";
  EXPECT_EQ(s_->snapshot_for_join("g:r", "alice", std::nullopt, 1).value().read_seq, 10);
  EXPECT_EQ(s_->snapshot_for_join("g:r", "bob", std::nullopt, 1).value().read_seq, 0);
  EXPECT_EQ(s_->set_read("g:r", "carol", 1).error(), errc::not_found);
  EXPECT_EQ(s_->set_read("g:none", "alice", 1).error(), errc::not_found);

  ASSERT_TRUE(append("dm:alice:bob", "alice"));
  EXPECT_EQ(s_->set_read("dm:alice:bob", "bob", 1).value(), 1);
}

TEST_P(store_contract, close_drains_then_refuses) {
  group("g:r", {"alice"});
  std::vector<std::future<result<append_result>>> fs;
  for (int i = 0; i < 300; ++i)
    fs.push_back(append_async(*s_, make_req("g:r", "alice", std::nullopt, "x")));
  s_->close();
  // Everything queued before close() was committed and answered before it returned.
  for (std::size_t i = 0; i < fs.size(); ++i) {
    ASSERT_EQ(fs[i].wait_for(0s), std::future_status::ready);
    auto r = fs[i].get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().msg.seq, static_cast<std::int64_t>(i + 1));
  }
  auto late = append_async(*s_, make_req("g:r", "alice", std::nullopt, "late"));
  auto r = wait(late);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::closed);
  s_->close();  // idempotent

  s_ = open();  // nothing was stored by the late append
  ASSERT_TRUE(s_);
  EXPECT_EQ(s_->get_room("g:r").value().last_seq, 300);
}

TEST_P(store_contract, reopen_continues) {
  group("g:r", {"alice", "bob"});
  ASSERT_TRUE(append("g:r", "alice", "c1", "one"));
  fill("g:r", "bob", 4);
  ASSERT_TRUE(append("dm:alice:bob", "alice", std::nullopt, "dm"));
  ASSERT_TRUE(s_->set_read("g:r", "alice", 3));
  s_.reset();

  s_ = open();
  ASSERT_TRUE(s_);
  auto r = append("g:r", "alice", std::nullopt, "six");
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().msg.seq, 6);
  auto dup = append("g:r", "alice", "c1", "again");
  ASSERT_TRUE(dup);
  EXPECT_TRUE(dup.value().duplicate);
  EXPECT_EQ(dup.value().msg.seq, 1);
  EXPECT_EQ(dup.value().msg.text, "one");
  EXPECT_EQ(s_->snapshot_for_join("g:r", "alice", std::nullopt, 50).value().read_seq, 3);
  EXPECT_EQ(seqs(s_->history("g:r", std::nullopt, 50).value().messages), iota(1, 6));
  EXPECT_EQ(s_->members("dm:alice:bob").value(), (std::vector<std::string>{"alice", "bob"}));
  EXPECT_EQ(append("dm:alice:bob", "bob").value().msg.seq, 2);
}

INSTANTIATE_TEST_SUITE_P(backends, store_contract, ::testing::ValuesIn(testing::all_backends()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace parley::store
