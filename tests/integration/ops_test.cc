// Operations: health, readiness, metrics, the dev token route (protocol.md section 6), crash
// durability (section 4 "Guarantees"), SIGTERM drain (close 1001, section 5) and the launch
// contract (bad flags exit 2).
#include <signal.h>

#include <map>

#include "harness.h"

namespace parley::itest {
namespace {

class ops_test : public itest {};

TEST_F(ops_test, healthz_is200) {
  ASSERT_TRUE(start());
  auto r = client::http_request(server().http_base(), "GET", "/healthz");
  EXPECT_EQ(r.status, 200) << r.body;
}

TEST_F(ops_test, readyz_is200_json) {
  ASSERT_TRUE(start());
  auto r = client::http_request(server().http_base(), "GET", "/readyz");
  EXPECT_EQ(r.status, 200) << r.body;
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  EXPECT_FALSE(ec) << r.body;
  EXPECT_TRUE(v.is_object()) << r.body;
}

TEST_F(ops_test, metrics_expose_required_series) {
  ASSERT_TRUE(start());
  auto a = connect("alice", "receiverId=bob");
  auto b = connect("bob", "receiverId=alice");
  ASSERT_TRUE(a && b);
  expect_next(*a, "joined");
  expect_next(*b, "joined");
  a->send({{"type", "send"}, {"text", "count me"}, {"cid", "m"}});
  expect_frame(*a, "message");
  expect_frame(*b, "message");
  auto r = client::http_request(server().http_base(), "GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  auto stored = metric(r.body, "parley_messages_stored_total");
  auto delivered = metric(r.body, "parley_messages_delivered_total");
  auto conns = metric(r.body, "parley_connections");
  ASSERT_TRUE(stored) << r.body;
  ASSERT_TRUE(delivered) << r.body;
  ASSERT_TRUE(conns) << r.body;
  EXPECT_GE(*stored, 1);
  EXPECT_GE(*delivered, 2);  // both connections got the message frame
  EXPECT_GE(*conns, 2);
}

TEST_F(ops_test, root_serves_web_page) {
  ASSERT_TRUE(start());
  auto r = client::http_request(server().http_base(), "GET", "/");
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.body.empty());
}

TEST_F(ops_test, dev_token_route_is404_without_dev) {
  ASSERT_TRUE(start());
  auto r =
      client::http_request(server().http_base(), "POST", "/api/dev/token", R"({"user":"alice"})");
  EXPECT_EQ(r.status, 404) << r.body;
}

TEST_F(ops_test, dev_token_works_with_dev) {
  ASSERT_TRUE(start({"--dev"}));
  auto r =
      client::http_request(server().http_base(), "POST", "/api/dev/token", R"({"user":"alice"})");
  ASSERT_EQ(r.status, 200) << r.body;
  boost::system::error_code ec;
  auto v = json::parse(r.body, ec);
  ASSERT_FALSE(ec) << r.body;
  ASSERT_TRUE(v.is_object()) << r.body;
  const std::string tok = str(v.as_object(), "token");
  ASSERT_FALSE(tok.empty()) << r.body;
  client::connect_error err;
  auto ws = raw_connect(ws_url(tok), {}, &err);
  ASSERT_NE(ws, nullptr) << "HTTP " << err.http_status << " " << err.body;
  conn c{std::move(ws), "alice"};
  EXPECT_EQ(str(expect_next(c, "hello"), "user"), "alice");
}

TEST_F(ops_test, sigkill_right_after_acks_loses_nothing) {
  ASSERT_TRUE(start());
  auto a = connect("alice");
  ASSERT_TRUE(a);
  constexpr int k_n = 40;
  for (int i = 0; i < k_n; ++i) {
    a->send({{"type", "send"},
             {"room", "dm:alice:bob"},
             {"text", "durable " + std::to_string(i)},
             {"cid", "d" + std::to_string(i)}});
  }
  std::vector<json::object> acks;
  while (static_cast<int>(acks.size()) < k_n) {
    auto f = next_frame(*a);
    ASSERT_TRUE(f) << a->transcript();
    if (str(*f, "type") == "ack") acks.push_back(std::move(*f));
    ASSERT_NE(str(*f, "type"), "error") << dump(*f);
  }
  // The moment the last ack is in: no chance to flush anything more.
  server().kill();
  EXPECT_EQ(server().wait_exit(5s), 128 + SIGKILL);
  a.reset();

  ASSERT_TRUE(server().restart()) << server().error();
  auto b = connect("bob", "receiverId=alice");
  ASSERT_TRUE(b);
  auto j = expect_next(*b, "joined");
  EXPECT_EQ(num(j, "last_seq"), k_n);
  auto h = expect_next(*b, "history");
  const auto& msgs = arr(h, "messages");
  ASSERT_EQ(msgs.size(), static_cast<std::size_t>(k_n)) << dump(h);
  for (int i = 0; i < k_n; ++i) {
    const auto& m = msgs[i].as_object();
    EXPECT_EQ(num(m, "seq"), num(acks[i], "seq"));
    EXPECT_EQ(str(m, "id"), str(acks[i], "id"));
    EXPECT_EQ(str(m, "cid"), str(acks[i], "cid"));
  }
  // seq continues, and a retried cid from before the crash is still recognised.
  b->send({{"type", "send"}, {"text", "after restart"}, {"cid", "r1"}});
  EXPECT_EQ(num(expect_next(*b, "ack"), "seq"), k_n + 1);
  auto a2 = connect("alice");
  ASSERT_TRUE(a2);
  a2->send({{"type", "send"}, {"room", "dm:alice:bob"}, {"text", "durable 0"}, {"cid", "d0"}});
  auto re = expect_frame(*a2, "ack");
  EXPECT_EQ(num(re, "seq"), num(acks[0], "seq"));
  EXPECT_EQ(str(re, "id"), str(acks[0], "id"));
}

TEST_F(ops_test, sigkill_mid_stream_keeps_every_acked_message_and_no_gaps) {
  ASSERT_TRUE(start({"--send-rate", "10000"}));
  auto a = connect("alice");
  ASSERT_TRUE(a);
  constexpr int k_n = 190;
  for (int i = 0; i < k_n; ++i) {
    a->send({{"type", "send"},
             {"room", "dm:alice:bob"},
             {"text", "stream " + std::to_string(i)},
             {"cid", "s" + std::to_string(i)}});
  }
  std::vector<json::object> acks;
  while (acks.size() < 60) {
    auto f = next_frame(*a);
    ASSERT_TRUE(f) << a->transcript();
    if (str(*f, "type") == "ack") acks.push_back(std::move(*f));
  }
  // Sends are still in flight.
  server().kill();
  ASSERT_TRUE(server().wait_exit(5s));
  while (auto f = next_frame(*a, 0ms)) {
    if (str(*f, "type") == "ack") acks.push_back(std::move(*f));
  }
  a.reset();

  ASSERT_TRUE(server().restart()) << server().error();
  auto b = connect("bob");
  ASSERT_TRUE(b);
  b->send({{"type", "join"}, {"room", "dm:alice:bob"}, {"since", 0}});
  auto j = expect_next(*b, "joined");
  const std::int64_t last = num(j, "last_seq");
  std::map<std::int64_t, std::string> stored;  // seq -> id
  for (bool more = true; more;) {
    auto h = expect_next(*b, "history");
    ASSERT_FALSE(h.empty());
    for (const auto& m : arr(h, "messages")) {
      stored[num(m.as_object(), "seq")] = str(m.as_object(), "id");
    }
    more = boolean(h, "more");
  }
  EXPECT_GE(last, static_cast<std::int64_t>(acks.size()));
  EXPECT_EQ(stored.size(), static_cast<std::size_t>(last)) << "gaps or duplicates";
  if (!stored.empty()) {
    EXPECT_EQ(stored.begin()->first, 1);
    EXPECT_EQ(stored.rbegin()->first, last);
  }
  for (const auto& ack : acks) {
    auto it = stored.find(num(ack, "seq"));
    ASSERT_NE(it, stored.end()) << "acked message lost: " << dump(ack);
    EXPECT_EQ(it->second, str(ack, "id"));
  }
}

TEST_F(ops_test, sigterm_drains_with1001_and_exits0) {
  ASSERT_TRUE(start());
  auto a = connect("alice", "receiverId=bob");
  auto b = connect("bob");
  ASSERT_TRUE(a && b);
  server().terminate();
  expect_closed(*a, 1001, 5s);
  expect_closed(*b, 1001, 5s);
  EXPECT_EQ(server().wait_exit(10s), 0);
}

TEST_F(ops_test, sigterm_without_connections_exits0) {
  ASSERT_TRUE(start());
  server().terminate();
  EXPECT_EQ(server().wait_exit(10s), 0);
}

TEST_F(ops_test, bad_flag_exits2) {
  for (std::vector<std::string> flags : {std::vector<std::string>{"--no-such-flag"},
                                         std::vector<std::string>{"--send-rate", "not-a-number"}}) {
    SCOPED_TRACE(flags[0]);
    server_process p(flags);
    EXPECT_FALSE(p.start(5s)) << "parleyd started with a bad flag";
    EXPECT_EQ(p.exit_status(), 2) << p.error() << "\n" << p.log();
  }
}

}  // namespace
}  // namespace parley::itest
