// A node under overload (protocol.md section 8, "Overload"): no request waits on the store
// pool for work queued behind itself, the pool's queue is bounded (a full queue is
// answered at once with `unavailable` / 503), /healthz and /readyz never wait behind client
// work, and SIGTERM ends within its drain bound while store calls are stuck.
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace parley::itest {
namespace {

using clock = std::chrono::steady_clock;

struct timed_response {
  client::http_response r;
  std::chrono::milliseconds took{0};
};

// Runs `n` requests at once, each on its own thread; returns their answers (status 0: no
// answer within `timeout`).
std::vector<timed_response> concurrently(int n,
                                         const std::function<client::http_response(int)>& f) {
  std::vector<timed_response> out(static_cast<std::size_t>(n));
  std::vector<std::thread> ts;
  for (int i = 0; i < n; ++i)
    ts.emplace_back([&, i] {
      auto t0 = clock::now();
      out[static_cast<std::size_t>(i)].r = f(i);
      out[static_cast<std::size_t>(i)].took =
          std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0);
    });
  for (auto& t : ts) t.join();
  return out;
}

std::string summary(const std::vector<timed_response>& rs) {
  std::string s;
  for (const auto& t : rs)
    s += std::to_string(t.r.status) + " in " + std::to_string(t.took.count()) +
         " ms: " + t.r.body.substr(0, 120) + "\n";
  return s;
}

class overload_test : public itest {};

// The node hang of the pool bug: with the sender's bucket empty, an HTTP send with a cid
// looks the cid up on the store pool. The handler used to wait for that lookup on a pool
// thread; with every pool thread doing so, nothing was left to run the lookups, and the
// whole node (API, /readyz, joins, SIGTERM) hung.
TEST_F(overload_test, http_sends_with_an_empty_bucket_all_get_their_answer) {
  ASSERT_TRUE(start({"--store-readers", "2"}));  // two pool threads: the smallest pool
  const std::string room = dm_room("alice", "bob");
  auto ws = connect("alice", "receiverId=bob");
  ASSERT_TRUE(ws);
  expect_next(*ws, "joined");
  expect_next(*ws, "history");
  // Empty the send bucket (50/s, holds 100) over the WebSocket.
  constexpr int k_ws_sends = 150;
  for (int i = 0; i < k_ws_sends; ++i)
    ws->send({{"type", "send"},
              {"text", "burst " + std::to_string(i)},
              {"cid", "w" + std::to_string(i)}});
  int answered = 0, limited = 0;
  while (answered < k_ws_sends) {
    auto f = next_frame(*ws, 5s);
    ASSERT_TRUE(f) << "only " << answered << " of the burst answered\n" << ws->transcript();
    auto type = str(*f, "type");
    if (type == "ack") ++answered;
    if (type == "error") {
      ++answered;
      if (str(*f, "code") == "rate_limited") ++limited;
    }
  }
  ASSERT_GT(limited, 0) << "the bucket was never empty";

  // 32 concurrent HTTP sends with a cid, while the bucket is (nearly) empty.
  const std::string tok = token("alice");
  auto rs = concurrently(32, [&](int i) {
    json::object body{{"text", "http " + std::to_string(i)}, {"cid", "h" + std::to_string(i)}};
    return client::http_request(server().http_base(), "POST", "/api/rooms/" + room + "/messages",
                                json::serialize(body), tok, 8s);
  });
  int created = 0;
  for (const auto& t : rs) {
    EXPECT_TRUE(t.r.status == 201 || t.r.status == 429 || t.r.status == 503) << summary(rs);
    EXPECT_LT(t.took, 5s) << summary(rs);
    if (t.r.status == 201) ++created;
    if (t.r.status == 429) {
      EXPECT_EQ(str(json::parse(t.r.body).as_object(), "error"), "rate_limited");
    }
  }
  EXPECT_LT(created, 32)
      << "the bucket did not limit the HTTP sends: the scenario is not the bug's";

  // The node still serves everything.
  auto ready = client::http_request(server().http_base(), "GET", "/readyz", {}, std::nullopt, 3s);
  EXPECT_EQ(ready.status, 200) << ready.body;
  auto rooms = client::http_request(server().http_base(), "GET", "/api/rooms", {}, tok, 3s);
  EXPECT_EQ(rooms.status, 200) << rooms.body;
  ws->stash.clear();
  ws->send({{"type", "join"}, {"room", room}, {"since", 0}, {"rid", "j1"}});
  auto joined = expect_frame(*ws, "joined", 5s);
  EXPECT_EQ(str(joined, "rid"), "j1");
  // A repeat of a stored cid is answered with its original ack, bucket or not.
  auto again = client::http_request(
      server().http_base(), "POST", "/api/rooms/" + room + "/messages",
      json::serialize(json::object{{"text", "burst 0"}, {"cid", "w0"}}), tok, 5s);
  EXPECT_EQ(again.status, 201) << again.body;
  // And it drains on SIGTERM.
  server().terminate();
  EXPECT_EQ(server().wait_exit(15s), 0);
}

// ---- a store that does not answer (PostgreSQL, a table locked by the test) ----------------

std::string pg_base() {
  const char* env = std::getenv("PARLEY_TEST_PG");
  return env && *env ? env : "postgresql://postgres@127.0.0.1:5432/test";
}

std::string pg_url(const std::string& schema) {
  auto base = pg_base();
  return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-csearch_path%3D" +
         schema;
}

// One libpq connection of the test's own.
class pg_session {
 public:
  explicit pg_session(const std::string& url) {
    const char* keys[] = {"connect_timeout", "dbname", nullptr};
    const char* vals[] = {"3", url.c_str(), nullptr};
    c_ = PQconnectdbParams(keys, vals, 1);
  }
  ~pg_session() { PQfinish(c_); }
  pg_session(const pg_session&) = delete;
  pg_session& operator=(const pg_session&) = delete;
  bool ok() const { return PQstatus(c_) == CONNECTION_OK; }
  std::string error() const { return PQerrorMessage(c_); }
  bool exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    bool good = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    PQclear(r);
    return good;
  }

 private:
  PGconn* c_;
};

class overload_pg_test : public itest {
 protected:
  void SetUp() override {
    std::random_device rd;
    schema_ = "parley_overload_" + std::to_string(::getpid()) + "_" + std::to_string(rd() % 100000);
    admin_ = std::make_unique<pg_session>(pg_base());
    if (!admin_->ok()) GTEST_SKIP() << "no PostgreSQL at PARLEY_TEST_PG: " << admin_->error();
  }
  void TearDown() override {
    itest::TearDown();
    server_.reset();  // the node's connections first: DROP SCHEMA waits for their locks
    lock_.reset();
    if (admin_ && admin_->ok()) {
      admin_->exec("SET client_min_messages = warning");
      admin_->exec("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
    }
  }

  // parleyd on this test's schema: two store threads and room for four waiting calls.
  bool start_pg() {
    return start({"--db", pg_url(schema_), "--store-readers", "2", "--store-queue", "4"});
  }
  // Holds an ACCESS EXCLUSIVE lock on `members` until release(): every store call that
  // reads or writes membership waits for it.
  bool lock_members() {
    lock_ = std::make_unique<pg_session>(pg_url(schema_));
    return lock_->ok() && lock_->exec("BEGIN") &&
           lock_->exec("LOCK TABLE members IN ACCESS EXCLUSIVE MODE");
  }
  void release() { lock_.reset(); }

  // Fills the store pool: `n` GET /api/rooms on their own threads, which block on the lock
  // (2 running, then up to 4 waiting). One at a time: each is in the pool (the /metrics
  // gauges) before the next is sent, so none is refused for a thread that has not yet
  // taken its task from the queue.
  void saturate(int n) {
    for (int i = 0; i < n; ++i) {
      blocked_.emplace_back([this, i] {
        auto r = client::http_request(server().http_base(), "GET", "/api/rooms", {},
                                      token("u" + std::to_string(i)), 30s);
        std::lock_guard lk(mu_);
        statuses_.push_back(r.status);
      });
      auto until = clock::now() + 5s;
      for (;;) {
        auto m = http("", "GET", "/metrics").body;
        auto in_pool = metric(m, "parley_store_busy").value_or(0) +
                       metric(m, "parley_store_queue").value_or(0);
        if (in_pool >= i + 1) break;
        if (clock::now() > until)
          return ADD_FAILURE() << "request " << i << " never reached the pool";
        std::this_thread::sleep_for(10ms);
      }
    }
  }
  std::vector<int> join_blocked() {
    for (auto& t : blocked_) t.join();
    blocked_.clear();
    std::lock_guard lk(mu_);
    return statuses_;
  }

  std::string schema_;
  std::unique_ptr<pg_session> admin_;
  std::unique_ptr<pg_session> lock_;
  std::vector<std::thread> blocked_;
  std::mutex mu_;
  std::vector<int> statuses_;
};

TEST_F(overload_pg_test, full_store_queue_is_answered_at_once_and_readiness_stays) {
  ASSERT_TRUE(start_pg());
  auto alice = connect("alice");  // no default room: no store call
  ASSERT_TRUE(alice);
  std::string g = create_room("alice", "busy", {"bob"});
  ASSERT_FALSE(g.empty());
  ASSERT_TRUE(lock_members());
  saturate(6);  // 2 run (blocked on the lock), 4 wait: the queue is full

  // More store work: refused at once, with the usual JSON body and a Retry-After.
  auto tok = token("alice");
  auto rs = concurrently(6, [&](int) {
    return client::http_request(server().http_base(), "GET", "/api/rooms/" + g, {}, tok, 10s);
  });
  for (const auto& t : rs) {
    EXPECT_EQ(t.r.status, 503) << summary(rs);
    EXPECT_LT(t.took, 2s) << summary(rs);
    if (t.r.status != 503) continue;
    auto body = json::parse(t.r.body).as_object();
    EXPECT_EQ(str(body, "error"), "unavailable");
    EXPECT_FALSE(str(body, "message").empty());
    EXPECT_EQ(t.r.headers.count("retry-after"), 1u);
  }
  // Over the WebSocket: an `error` frame, the connection stays open.
  alice->send({{"type", "history"}, {"room", g}, {"rid", "h1"}});
  auto err = expect_frame(*alice, "error", 2s);
  EXPECT_EQ(str(err, "code"), "unavailable");
  EXPECT_EQ(str(err, "ref"), "history");
  alice->send({{"type", "ping"}, {"rid", "p1"}});
  EXPECT_EQ(str(expect_frame(*alice, "pong", 2s), "rid"), "p1");

  // Health and readiness never wait behind client work: 200 while the queue is full.
  for (const char* path : {"/healthz", "/readyz"}) {
    auto t0 = clock::now();
    auto r = client::http_request(server().http_base(), "GET", path, {}, std::nullopt, 3s);
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    EXPECT_LT(clock::now() - t0, 2s) << path;
  }
  auto m = http("", "GET", "/metrics");
  EXPECT_GE(metric(m.body, "parley_store_queue_rejected_total").value_or(0), 7);
  EXPECT_EQ(metric(m.body, "parley_store_queue").value_or(-1), 4);
  EXPECT_EQ(metric(m.body, "parley_store_busy").value_or(-1), 2);

  // The store answers again: every waiting call is answered, and new ones are served.
  release();
  auto statuses = join_blocked();
  ASSERT_EQ(statuses.size(), 6u);
  for (int s : statuses) EXPECT_EQ(s, 200);
  auto after = client::http_request(server().http_base(), "GET", "/api/rooms/" + g, {}, tok, 5s);
  EXPECT_EQ(after.status, 200) << after.body;
  alice->send({{"type", "history"}, {"room", g}, {"rid", "h2"}});
  EXPECT_EQ(str(expect_frame(*alice, "history", 5s), "rid"), "h2");
}

TEST_F(overload_pg_test, sigterm_ends_within_its_bound_while_store_calls_are_stuck) {
  ASSERT_TRUE(start_pg());
  auto alice = connect("alice");
  ASSERT_TRUE(alice);
  ASSERT_TRUE(lock_members());
  saturate(6);
  auto t0 = clock::now();
  server().terminate();
  // Network drain (the open WebSocket closes at once) + the store calls' 5 s bound.
  auto status = server().wait_exit(20s);
  EXPECT_EQ(status, 0);
  EXPECT_LT(clock::now() - t0, 15s);
  EXPECT_NE(server().log().find("exiting without waiting"), std::string::npos) << server().log();
  release();
  // Every blocked request was answered or cut off when the process ended.
  auto statuses = join_blocked();
  EXPECT_EQ(statuses.size(), 6u);
}

}  // namespace
}  // namespace parley::itest
