// protocol.md section 4 "Joining": replay with since, the replay_max rule, the seam between
// replay and live messages, history paging, leave.
#include <atomic>
#include <set>
#include <thread>

#include "harness.h"

namespace parley::itest {
namespace {

std::vector<std::int64_t> seqs_of(const json::array& msgs) {
  std::vector<std::int64_t> out;
  for (const auto& m : msgs) out.push_back(m.is_object() ? num(m.as_object(), "seq") : -1);
  return out;
}

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (std::int64_t s = first; s <= last; ++s) out.push_back(s);
  return out;
}

class join_test : public itest {
 protected:
  // A group of alice (the writer) and bob (the reader) with `n` messages from alice.
  void setup_group(int n, std::vector<std::string> flags = {"--send-rate", "10000"}) {
    ASSERT_TRUE(start(std::move(flags)));
    room_ = create_room("alice", "g", {"bob"});
    ASSERT_FALSE(room_.empty());
    writer_ = connect("alice");
    ASSERT_TRUE(writer_);
    if (n > 0) {
      ASSERT_EQ(seed(*writer_, room_, n, "m").size(), static_cast<std::size_t>(n));
    }
    reader_ = connect("bob");
    ASSERT_TRUE(reader_);
  }
  // The reader's `joined`. A member that has not joined may first get a `notify` of a
  // seeded message whose fan-out ran after it connected (the sender's ack can come first):
  // not what these tests check, so it is skipped.
  json::object expect_joined() {
    auto f = next_frame(*reader_);
    while (f && str(*f, "type") == "notify") f = next_frame(*reader_);
    EXPECT_TRUE(f && str(*f, "type") == "joined")
        << (f ? dump(*f) : std::string("no frame")) << "\n"
        << reader_->transcript();
    return f ? *f : json::object{};
  }
  // Sends a join and reads `joined` plus history frames until one has more:false or
  // `frames` history frames arrived; returns the replayed seqs; `more` of the last frame.
  std::vector<std::int64_t> join(std::optional<std::int64_t> since, bool* more,
                                 json::object* joined = nullptr, int frames = 1) {
    json::object j{{"type", "join"}, {"room", room_}};
    if (since) j["since"] = *since;
    reader_->send(j);
    auto jf = expect_joined();
    EXPECT_EQ(str(jf, "room"), room_);
    if (joined != nullptr) *joined = jf;
    std::vector<std::int64_t> seqs;
    *more = false;
    for (int i = 0; i < frames; ++i) {
      auto h = expect_next(*reader_, "history");
      if (h.empty()) break;
      EXPECT_EQ(str(h, "room"), room_);
      EXPECT_LE(arr(h, "messages").size(), 200u);
      auto s = seqs_of(arr(h, "messages"));
      seqs.insert(seqs.end(), s.begin(), s.end());
      *more = boolean(h, "more");
      if (!*more) break;
    }
    return seqs;
  }
  std::string room_;
  std::unique_ptr<conn> writer_, reader_;
};

TEST_F(join_test, join_without_since_gives_latest50) {
  ASSERT_NO_FATAL_FAILURE(setup_group(60));
  bool more = false;
  json::object joined;
  auto seqs = join(std::nullopt, &more, &joined);
  EXPECT_EQ(num(joined, "last_seq"), 60);
  EXPECT_EQ(num(joined, "read_seq"), 0);
  EXPECT_EQ(seqs, range(11, 60));
  EXPECT_TRUE(more);
  // Subscribed: live messages follow.
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "live"}, {"cid", "live"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 61);
}

TEST_F(join_test, join_since_replays_exactly_the_rest) {
  ASSERT_NO_FATAL_FAILURE(setup_group(10));
  bool more = true;
  auto seqs = join(4, &more);
  EXPECT_EQ(seqs, range(5, 10));
  EXPECT_FALSE(more);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "live"}, {"cid", "live"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 11);
  assert_no_frame(*reader_, "message");
}

TEST_F(join_test, join_since_beyond_last_seq_is_clamped) {
  ASSERT_NO_FATAL_FAILURE(setup_group(3));
  bool more = true;
  json::object joined;
  auto seqs = join(999, &more, &joined);
  EXPECT_EQ(num(joined, "last_seq"), 3);
  EXPECT_TRUE(seqs.empty());
  EXPECT_FALSE(more);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "live"}, {"cid", "live"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 4);
}

TEST_F(join_test, join_since_zero_on_empty_room) {
  ASSERT_NO_FATAL_FAILURE(setup_group(0));
  bool more = true;
  EXPECT_TRUE(join(0, &more).empty());
  EXPECT_FALSE(more);
}

TEST_F(join_test, no_gap_no_duplicate_at_seam_while_another_client_sends) {
  ASSERT_NO_FATAL_FAILURE(setup_group(10));
  constexpr int k_total = 300;  // 10 seeded + 290 sent concurrently
  std::atomic<int> acked{0};
  std::atomic<bool> writer_failed{false};
  std::thread writer([&] {
    // Batches of 10, waiting for their acks, so sends keep arriving during the join.
    for (int sent = 10; sent < k_total;) {
      for (int i = 0; i < 10 && sent < k_total; ++i, ++sent) {
        writer_->send({{"type", "send"},
                       {"room", room_},
                       {"text", "c" + std::to_string(sent)},
                       {"cid", "c" + std::to_string(sent)}});
      }
      while (acked.load() + 10 < sent) {
        auto text = writer_->ws->recv(k_wait);
        if (!text) {
          writer_failed = true;
          return;
        }
        boost::system::error_code ec;
        auto v = json::parse(*text, ec);
        if (ec || !v.is_object()) continue;
        if (str(v.as_object(), "type") == "ack") ++acked;
        if (str(v.as_object(), "type") == "error") writer_failed = true;
      }
    }
  });
  while (acked.load() < 20 && !writer_failed.load()) std::this_thread::sleep_for(1ms);

  reader_->send({{"type", "join"}, {"room", room_}, {"since", 10}});
  // Before the join, bob's connection gets notify frames for the room.
  json::object joined;
  for (;;) {
    auto f = next_frame(*reader_);
    ASSERT_TRUE(f) << reader_->transcript();
    if (str(*f, "type") == "notify") continue;
    ASSERT_EQ(str(*f, "type"), "joined") << dump(*f);
    joined = std::move(*f);
    break;
  }
  // Everything after 10, whether replayed or live, exactly once and in order; replay frames
  // all come before live ones.
  std::vector<std::int64_t> seqs;
  bool live_started = false;
  bool last_history_more = false;
  while (seqs.empty() || seqs.back() < k_total) {
    auto f = next_frame(*reader_);
    if (!f) {
      ADD_FAILURE() << "stalled after seq " << (seqs.empty() ? 10 : seqs.back());
      break;
    }
    const std::string type = str(*f, "type");
    if (type == "history") {
      EXPECT_FALSE(live_started) << "history after live messages";
      auto s = seqs_of(arr(*f, "messages"));
      seqs.insert(seqs.end(), s.begin(), s.end());
      last_history_more = boolean(*f, "more");
    } else if (type == "message") {
      if (!live_started) {
        EXPECT_FALSE(last_history_more) << "live messages after more:true";
      }
      live_started = true;
      seqs.push_back(num(*f, "seq"));
    } else if (type != "notify") {
      ADD_FAILURE() << "unexpected frame " << dump(*f);
    }
  }
  writer.join();
  EXPECT_FALSE(writer_failed.load()) << writer_->transcript();
  EXPECT_GE(num(joined, "last_seq"), 20);
  EXPECT_EQ(seqs, range(11, k_total));
  assert_no_frame(*reader_, "message", 200ms);
}

TEST_F(join_test, replay_max_leaves_connection_unsubscribed_until_caught_up) {
  ASSERT_NO_FATAL_FAILURE(setup_group(12, {"--send-rate", "10000", "--replay-max", "5"}));
  bool more = false;
  EXPECT_EQ(join(0, &more), range(1, 5));
  EXPECT_TRUE(more);
  // Not subscribed: a new message is not delivered live.
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "13"}, {"cid", "13"}});
  expect_frame(*writer_, "ack");
  assert_no_frame(*reader_, "message");
  reader_->stash.clear();  // a notify is allowed here

  EXPECT_EQ(join(5, &more), range(6, 10));
  EXPECT_TRUE(more);
  EXPECT_EQ(join(10, &more), range(11, 13));
  EXPECT_FALSE(more);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "14"}, {"cid", "14"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 14);
  assert_no_frame(*reader_, "message");
}

TEST_F(join_test, replay_of_exactly_replay_max_covers_everything) {
  ASSERT_NO_FATAL_FAILURE(setup_group(10, {"--send-rate", "10000", "--replay-max", "5"}));
  bool more = true;
  EXPECT_EQ(join(5, &more), range(6, 10));
  EXPECT_FALSE(more) << "5 remaining messages with replay_max 5: everything is covered";
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "11"}, {"cid", "11"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 11);
}

TEST_F(join_test, long_replay_comes_in_frames_of_at_most200) {
  ASSERT_NO_FATAL_FAILURE(setup_group(450));
  reader_->send({{"type", "join"}, {"room", room_}, {"since", 0}});
  EXPECT_EQ(num(expect_joined(), "last_seq"), 450);
  std::vector<std::int64_t> seqs;
  std::vector<bool> mores;
  while (seqs.size() < 450) {
    auto h = expect_next(*reader_, "history");
    ASSERT_FALSE(h.empty());
    EXPECT_LE(arr(h, "messages").size(), 200u);
    ASSERT_FALSE(arr(h, "messages").empty()) << dump(h);
    auto s = seqs_of(arr(h, "messages"));
    seqs.insert(seqs.end(), s.begin(), s.end());
    mores.push_back(boolean(h, "more"));
  }
  EXPECT_EQ(seqs, range(1, 450));
  ASSERT_FALSE(mores.empty());
  EXPECT_FALSE(mores.back()) << "the last frame of a complete replay has more:false";
  // protocol.md leaves the `more` of the frames before the last one open; record it.
  std::string inner;
  for (std::size_t i = 0; i + 1 < mores.size(); ++i) inner += mores[i] ? "true " : "false ";
  RecordProperty("inner_more", inner);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "live"}, {"cid", "live"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 451);
}

TEST_F(join_test, replay_max_over200_stops_after_several_frames) {
  ASSERT_NO_FATAL_FAILURE(setup_group(450, {"--send-rate", "10000", "--replay-max", "300"}));
  reader_->send({{"type", "join"}, {"room", room_}, {"since", 0}});
  expect_joined();
  std::vector<std::int64_t> seqs;
  std::vector<bool> mores;
  while (seqs.size() < 300) {
    auto h = expect_next(*reader_, "history");
    ASSERT_FALSE(h.empty());
    EXPECT_LE(arr(h, "messages").size(), 200u);
    ASSERT_FALSE(arr(h, "messages").empty()) << dump(h);
    auto s = seqs_of(arr(h, "messages"));
    seqs.insert(seqs.end(), s.begin(), s.end());
    mores.push_back(boolean(h, "more"));
  }
  EXPECT_EQ(seqs, range(1, 300));
  EXPECT_TRUE(mores.back()) << "replay_max reached with messages left: more:true";
  std::string inner;
  for (std::size_t i = 0; i + 1 < mores.size(); ++i) inner += mores[i] ? "true " : "false ";
  RecordProperty("inner_more", inner);
  // Not subscribed until caught up.
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "451"}, {"cid", "451"}});
  expect_frame(*writer_, "ack");
  assert_no_frame(*reader_, "message");
  assert_no_frame(*reader_, "history", 0ms);
}

TEST_F(join_test, rejoin_restarts_from_new_since_without_repeating_live) {
  ASSERT_NO_FATAL_FAILURE(setup_group(5));
  bool more = true;
  EXPECT_EQ(join(5, &more), std::vector<std::int64_t>{});
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "6"}, {"cid", "6"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 6);
  // Explicit resume from 3: replay 4..6, and 6 is not delivered live again.
  EXPECT_EQ(join(3, &more), range(4, 6));
  EXPECT_FALSE(more);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "7"}, {"cid", "7"}});
  EXPECT_EQ(num(expect_next(*reader_, "message"), "seq"), 7);
  assert_no_frame(*reader_, "message");
}

TEST_F(join_test, history_pages_backwards) {
  ASSERT_NO_FATAL_FAILURE(setup_group(250));
  auto page = [&](std::optional<int> before, std::optional<int> limit, bool* more) {
    json::object h{{"type", "history"}, {"room", room_}, {"rid", "h"}};
    if (before) h["before"] = *before;
    if (limit) h["limit"] = *limit;
    reader_->send(h);
    auto f = expect_next(*reader_, "history");
    EXPECT_EQ(str(f, "rid"), "h");
    EXPECT_EQ(str(f, "room"), room_);
    *more = boolean(f, "more");
    return seqs_of(arr(f, "messages"));
  };
  bool more = false;
  EXPECT_EQ(page(std::nullopt, std::nullopt, &more), range(201, 250));  // default 50
  EXPECT_TRUE(more);
  EXPECT_EQ(page(std::nullopt, 500, &more), range(51, 250));  // at most 200
  EXPECT_TRUE(more);
  EXPECT_EQ(page(101, 30, &more), range(71, 100));
  EXPECT_TRUE(more);
  EXPECT_EQ(page(51, 100, &more), range(1, 50));
  EXPECT_FALSE(more);
  EXPECT_EQ(page(2, 10, &more), range(1, 1));
  EXPECT_FALSE(more);
  // History does not subscribe.
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "x"}, {"cid", "x"}});
  expect_frame(*writer_, "ack");
  assert_no_frame(*reader_, "message");
}

TEST_F(join_test, leave_stops_live_messages_and_turns_them_into_notify) {
  ASSERT_NO_FATAL_FAILURE(setup_group(0));
  bool more = true;
  join(std::nullopt, &more);
  reader_->send({{"type", "leave"}, {"room", room_}});
  auto left = expect_next(*reader_, "left");
  EXPECT_EQ(str(left, "room"), room_);
  writer_->send({{"type", "send"}, {"room", room_}, {"text", "after leave"}, {"cid", "al"}});
  auto n = expect_next(*reader_, "notify");
  EXPECT_EQ(str(n, "room"), room_);
  EXPECT_EQ(str(n, "event"), "message");
  EXPECT_EQ(num(n, "seq"), 1);
  EXPECT_EQ(str(n, "from"), "alice");
  assert_no_frame(*reader_, "message");
}

}  // namespace
}  // namespace parley::itest
