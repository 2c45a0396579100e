// connection: joins (latest 50, replay in frames of 200, replay_max), errors and their
// ref/rid, rate and size limits, ping, history, auth refresh, token expiry, error flood.
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

// ---- joins, errors and the rest of the frame handling ------------------------------------

TEST(connection_frames, join_without_since_gives_latest50) {
  env e;
  for (int i = 1; i <= 60; ++i) e.append(R, "bob", "m" + std::to_string(i));
  auto a = e.connect("alice", "s1");
  e.text(a, R"({"type":"join","room":")" + R + R"(","rid":"j1"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "history") == 1; }));
  auto j = of_type(a, "joined");
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].at("last_seq"), 60);
  EXPECT_EQ(j[0].at("read_seq"), 0);
  EXPECT_EQ(j[0].at("rid"), "j1");
  auto h = of_type(a, "history")[0];
  EXPECT_EQ(h.at("more"), true);
  EXPECT_EQ(h.at("rid"), "j1");
  const auto& arr = h.at("messages").as_array();
  ASSERT_EQ(arr.size(), 50u);
  EXPECT_EQ(arr.front().as_object().at("seq"), 11);
  EXPECT_EQ(arr.back().as_object().at("seq"), 60);
}

TEST(connection_frames, join_since_beyond_replay_max_is_not_subscribed) {
  auto opts = env::default_options();
  opts.replay_max = 250;
  env e(opts);
  std::vector<std::promise<void>> ps(260);
  for (int i = 0; i < 260; ++i) {
    store::append_request r;
    r.room = R;
    r.sender = "bob";
    r.text = "m" + std::to_string(i + 1);
    r.ts = now_ms();
    r.id = "id" + std::to_string(i);
    e.st().append(std::move(r), [&ps, i](result<store::append_result>) { ps[i].set_value(); });
  }
  for (auto& p : ps) p.get_future().wait();
  auto a = e.connect("alice", "s1");
  e.join(a, R, 0);
  auto hs = of_type(a, "history");
  ASSERT_EQ(hs.size(), 2u);  // frames of at most 200
  EXPECT_EQ(hs[0].at("messages").as_array().size(), 200u);
  EXPECT_EQ(hs[0].at("more"), false);
  EXPECT_EQ(hs[1].at("messages").as_array().size(), 50u);
  EXPECT_EQ(hs[1].at("more"), true);
  // Not subscribed: a new message is a notify, not a live message.
  send_sync(e, "bob", R, "new");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "notify") == 1; }));
  EXPECT_EQ(count_type(a.rec->frames(), "message"), 0u);
  // Resume from the last seq received: the rest, more false, then live.
  e.join(a, R, 250);
  hs = of_type(a, "history");
  ASSERT_EQ(hs.size(), 3u);
  const auto& rest = hs[2].at("messages").as_array();
  ASSERT_EQ(rest.size(), 11u);
  EXPECT_EQ(rest.front().as_object().at("seq"), 251);
  EXPECT_EQ(rest.back().as_object().at("seq"), 261);
  EXPECT_EQ(hs[2].at("more"), false);
  send_sync(e, "bob", R, "live");
  ASSERT_TRUE(has_live(*a.rec, R, 1));
  EXPECT_EQ(live_seqs(a.rec->frames(), R), (std::vector<std::int64_t>{262}));
}

TEST(connection_frames, join_since_at_or_past_the_end_gives_empty_history) {
  env e;
  e.append(R, "bob", "m1");
  auto a = e.connect("alice", "s1");
  e.join(a, R, 99);  // clamped to last_seq
  auto hs = of_type(a, "history");
  ASSERT_EQ(hs.size(), 1u);
  EXPECT_TRUE(hs[0].at("messages").as_array().empty());
  EXPECT_EQ(hs[0].at("more"), false);
  send_sync(e, "bob", R, "m2");
  ASSERT_TRUE(has_live(*a.rec, R, 1));
  EXPECT_EQ(live_seqs(a.rec->frames(), R), (std::vector<std::int64_t>{2}));
}

TEST(connection_frames, join_of_a_room_the_user_may_not_see_is_not_member) {
  env e;
  auto a = e.connect("alice", "s1");
  e.text(a, R"({"type":"join","room":"dm:bob:carol","rid":"x"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return !fs.empty(); }));
  auto errs = a.rec->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].ec, make_error_code(errc::not_member));
  EXPECT_EQ(errs[0].ref, "join");
  EXPECT_EQ(errs[0].rid, "x");
  // Not subscribed: bob and carol's messages never reach alice.
  send_sync(e, "bob", "dm:bob:carol", "secret");
  std::this_thread::sleep_for(30ms);
  settle(e, a);
  EXPECT_EQ(a.rec->frames().size(), 1u);
  // Unknown group room: indistinguishable.
  e.text(a, R"({"type":"join","room":"g:nosuchroom"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return fs.size() == 2; }));
  EXPECT_EQ(a.rec->errors()[1].ec, make_error_code(errc::not_member));
}

TEST(connection_frames, bad_frames_are_bad_request_with_ref_and_rid) {
  env e;
  auto a = e.connect("alice", "s1");
  e.text(a, "{oops");
  e.text(a, R"({"type":"nope","rid":"r1"})");
  e.text(a, R"({"type":"send","room":"dm:bob:alice","text":"x","cid":"c1"})");
  e.text(a, "");  // plain text, no default room
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return fs.size() == 4; }));
  auto errs = a.rec->errors();
  ASSERT_EQ(errs.size(), 4u);
  for (const auto& er : errs) EXPECT_EQ(er.ec, make_error_code(errc::bad_request));
  EXPECT_EQ(errs[0].ref, std::nullopt);
  EXPECT_EQ(errs[1].ref, "nope");
  EXPECT_EQ(errs[1].rid, "r1");
  EXPECT_EQ(errs[2].ref, "c1");
  EXPECT_EQ(errs[3].ref, std::nullopt);  // plain text
}

TEST(connection_frames, send_errors) {
  auto opts = env::default_options();
  opts.max_text_bytes = 10;
  opts.send_rate = 1;  // burst of 2
  env e(opts);
  auto a = e.connect("alice", "s1");
  e.text(a, R"({"type":"send","room":"dm:alice:bob","text":"01234567890","cid":"big"})");
  e.text(a, R"({"type":"send","room":"dm:alice:bob","text":"","cid":"empty"})");
  e.text(a, R"({"type":"send","room":"dm:bob:carol","text":"x","cid":"nm"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return fs.size() == 3; }));
  auto errs = a.rec->errors();
  EXPECT_EQ(errs[0].ec, make_error_code(errc::too_large));
  EXPECT_EQ(errs[0].ref, "big");
  EXPECT_EQ(errs[1].ec, make_error_code(errc::bad_request));
  EXPECT_EQ(errs[2].ec, make_error_code(errc::not_member));
  EXPECT_EQ(errs[2].ref, "nm");
  for (int i = 0; i < 3; ++i)
    e.text(a, R"({"type":"send","room":"dm:alice:bob","text":"x","cid":"k)" + std::to_string(i) +
                  R"("})");
  ASSERT_TRUE(a.rec->wait(
      [](const auto& fs) { return count_type(fs, "ack") == 2 && count_type(fs, "error") == 4; }));
  EXPECT_EQ(count_type(a.rec->frames(), "ack"), 2u);
  errs = a.rec->errors();
  ASSERT_EQ(errs.size(), 4u);
  EXPECT_EQ(errs[3].ec, make_error_code(errc::rate_limited));
  EXPECT_EQ(errs[3].ref, "k2");
  // A repeat of a stored cid is answered with its ack even with an empty bucket.
  e.text(a, R"({"type":"send","room":"dm:alice:bob","text":"x","cid":"k0"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "ack") == 3; }));
  EXPECT_EQ(of_type(a, "ack").back().at("seq"), 1);
}

TEST(connection_frames, ping_pong) {
  env e;
  auto a = e.connect("alice", "s1");
  auto t0 = now_ms();
  e.text(a, R"({"type":"ping","rid":"p"})");
  auto p = of_type(a, "pong");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].at("rid"), "p");
  EXPECT_GE(p[0].at("server_time").as_int64(), t0);
}

TEST(connection_frames, history_request) {
  env e;
  for (int i = 1; i <= 10; ++i) e.append(R, "bob", "m" + std::to_string(i));
  auto a = e.connect("alice", "s1");
  e.text(a, R"({"type":"history","room":")" + R + R"(","before":8,"limit":3,"rid":"h"})");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "history") == 1; }));
  auto h = of_type(a, "history")[0];
  EXPECT_EQ(h.at("rid"), "h");
  EXPECT_EQ(h.at("more"), true);
  const auto& arr = h.at("messages").as_array();
  ASSERT_EQ(arr.size(), 3u);
  EXPECT_EQ(arr[0].as_object().at("seq"), 5);
  EXPECT_EQ(arr[2].as_object().at("seq"), 7);
  // history does not subscribe.
  send_sync(e, "bob", R, "m11");
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return count_type(fs, "notify") == 1; }));
  EXPECT_EQ(count_type(a.rec->frames(), "message"), 0u);
}

TEST(connection_frames, auth_refresh) {
  env e;
  auto a = e.connect("alice", "s1");
  auto exp_s = now_ms() / 1000 + 7200;
  e.text(a, R"({"type":"auth","rid":"a1","token":")" + auth::mint_hs256(k_secret, "alice", exp_s) +
                R"("})");
  auto ok = of_type(a, "auth_ok");
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0].at("exp"), exp_s * 1000);
  EXPECT_EQ(ok[0].at("rid"), "a1");
  e.text(a, R"({"type":"auth","token":")" + auth::mint_hs256(k_secret, "mallory", exp_s) + R"("})");
  e.text(a, R"({"type":"auth","token":")" + auth::mint_hs256("wrong", "alice", exp_s) + R"("})");
  auto errs = a.rec->errors();
  ASSERT_EQ(errs.size(), 2u);
  for (const auto& er : errs) {
    EXPECT_EQ(er.ec, make_error_code(errc::unauthorized));
    EXPECT_EQ(er.ref, "auth");
  }
}

TEST(connection_frames, token_expiry_is_reported) {
  auto opts = env::default_options();
  opts.jwt_skew_ms = 0;
  env e(opts);
  auto a = e.connect("alice", "s1", std::nullopt, now_ms() + 80);
  ASSERT_TRUE(a.rec->wait([](const auto& fs) { return !fs.empty(); }, 3s));
  auto errs = a.rec->errors();
  ASSERT_EQ(errs.size(), 1u);
  EXPECT_EQ(errs[0].ec, make_error_code(errc::token_expired));
}

TEST(connection_frames, error_flood_closes_with1008) {
  env e;
  auto a = e.connect("alice", "s1");
  for (int i = 0; i < 100; ++i) e.text(a, "{bad");
  EXPECT_TRUE(a.rec->closes().empty());
  e.text(a, "{bad");
  EXPECT_EQ(a.rec->closes(), (std::vector<int>{1008}));
}

TEST(connection_frames, stopped_connection_ignores_everything) {
  env e;
  auto a = e.connect("alice", "s1");
  e.join(a, R);
  e.on_strand(a, [c = a.conn] { c->stop(); });
  e.on_strand(a, [c = a.conn] { c->stop(); });  // idempotent
  auto before = a.rec->frames().size();
  e.text(a, R"({"type":"ping"})");
  send_sync(e, "bob", R, "after stop");
  std::this_thread::sleep_for(30ms);
  settle(e, a);
  EXPECT_EQ(a.rec->frames().size(), before);
  EXPECT_EQ(e.svc().router().connection_count(), 0u);
}

}  // namespace
}  // namespace parley::chat::testing
