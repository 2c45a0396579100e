// PostgreSQL-specific store tests: several nodes on one database, concurrent migrations, the
// outbox, and failures (unreachable server, terminated connections, a server restart).
// Skipped when no server answers at PARLEY_TEST_PG (scripts/ensure-postgres starts one).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "base/ids.h"
#include "store/postgres_conn.h"
#include "store/postgres_migrations.h"
#include "store/store.h"
#include "store/store_test_backends.h"

namespace parley::store {
namespace {

using namespace std::chrono_literals;
namespace t = testing;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

append_request make_req(const std::string& room, const std::string& sender,
                        std::optional<std::string> cid = std::nullopt,
                        const std::string& text = "x") {
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
  if (f.wait_for(60s) != std::future_status::ready) {
    ADD_FAILURE() << "append callback did not run";
    return make_error_code(errc::internal);
  }
  return f.get();
}

result<append_result> append(store& s, const std::string& room, const std::string& sender,
                             std::optional<std::string> cid = std::nullopt) {
  auto f = append_async(s, make_req(room, sender, std::move(cid)));
  return wait(f);
}

// A TCP port on 127.0.0.1 that nothing listens on (bound, then released).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::int64_t scalar(const std::string& sql) {
  std::string err;
  auto r = t::pg_query(sql, &err);
  EXPECT_TRUE(r) << err;
  if (!r || r->empty() || r->front().empty()) return -1;
  return std::stoll(r->front().front());
}

// A TCP proxy to PostgreSQL that loses the answer of the `nth` COMMIT: once the server's
// "CommandComplete COMMIT" passes through, that chunk is dropped and the client's
// connection closed. The server has committed; the client cannot know it.
class commit_answer_cutter {
 public:
  commit_answer_cutter(std::string host, int port) : host_(std::move(host)), port_(port) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(lfd_, 16) != 0 ||
        ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      return;
    listen_port_ = ntohs(a.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~commit_answer_cutter() {
    stop_ = true;
    ::shutdown(lfd_, SHUT_RDWR);
    ::close(lfd_);
    if (acceptor_.joinable()) acceptor_.join();
    for (auto& th : pumps_) th.join();
  }
  int port() const { return listen_port_; }
  // Cut at the nth COMMIT answer from now on (1: the next one).
  void arm(int nth) { countdown_ = nth; }
  int cuts() const { return cuts_; }

 private:
  void accept_loop() {
    while (!stop_) {
      int c = ::accept(lfd_, nullptr, nullptr);
      if (c < 0) return;
      int u = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_port = htons(static_cast<std::uint16_t>(port_));
      ::inet_pton(AF_INET, host_.c_str(), &a.sin_addr);
      if (::connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(c);
        ::close(u);
        continue;
      }
      pumps_.emplace_back([this, c, u] { pump(c, u); });
    }
  }
  void pump(int c, int u) {
    static const std::string commit_done(
        "C\0\0\0\x0b"
        "COMMIT\0",
        12);
    std::string tail;  // the last bytes from the server: a tag split over two reads
    char buf[65536];
    pollfd fds[2] = {{c, POLLIN, 0}, {u, POLLIN, 0}};
    while (!stop_) {
      if (::poll(fds, 2, 100) < 0) break;
      bool closed = false;
      for (int k = 0; k < 2 && !closed; ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
        if (n <= 0) {
          closed = true;
          break;
        }
        if (k == 1) {  // server -> client
          std::string seen = tail + std::string(buf, static_cast<std::size_t>(n));
          if (seen.find(commit_done) != std::string::npos && countdown_ > 0 && --countdown_ == 0) {
            ++cuts_;
            closed = true;
            break;
          }
          tail = seen.substr(seen.size() > 11 ? seen.size() - 11 : 0);
        }
        if (::write(fds[1 - k].fd, buf, static_cast<std::size_t>(n)) != n) closed = true;
      }
      if (closed) break;
    }
    ::close(c);
    ::close(u);
  }

  std::string host_;
  int port_;
  int lfd_ = -1;
  int listen_port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> countdown_{0};
  std::atomic<int> cuts_{0};
  std::thread acceptor_;
  std::vector<std::thread> pumps_;  // the acceptor's thread only, then the destructor
};

class postgres_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = t::pg_skip_reason(); !why.empty()) GTEST_SKIP() << why;
    schema_ = t::pg_new_schema(::testing::UnitTest::GetInstance()->current_test_info()->name());
    opts_.url = t::pg_url_with_schema(t::pg_base_url(), schema_);
    opts_.readers = 3;
    opts_.max_batch = 32;
  }
  void TearDown() override {
    if (!schema_.empty()) t::pg_drop_schema(schema_);
  }

  std::unique_ptr<store> open(options o) {
    std::string why;
    auto r = make_store(o, why);
    EXPECT_TRUE(r) << why;
    return r ? std::move(r).value() : nullptr;
  }
  std::unique_ptr<store> open() { return open(opts_); }

  std::int64_t count(const std::string& table) {
    return scalar("SELECT count(*) FROM \"" + schema_ + "\"." + table);
  }

  // Names this test's store connections (application_name) so that pg_stat_activity tells
  // them apart.
  void name_connections() {
    app_ = "parley_" + schema_.substr(0, 40);
    opts_.url += "&application_name=" + app_;
  }
  // A store on named connections with the group room `room` (alice its member).
  std::unique_ptr<store> open_named_with_room(const std::string& room) {
    name_connections();
    auto s = open();
    if (s) {
      EXPECT_TRUE(s->create_group(room, "r", "alice", {"alice"}, now_ms()));
    }
    return s;
  }
  // How many of the named connections wait for a lock.
  std::int64_t waiting_for_lock() {
    return scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app_ +
                  "' AND wait_event_type = 'Lock'");
  }
  // True once one of them waits for a lock (20 s at most).
  bool one_waits_for_lock() {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (waiting_for_lock() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(10ms);
    return waiting_for_lock() == 1;
  }
  // Another connection (not named like the store's) holding `room`'s row lock in an open
  // transaction; nullptr on failure.
  std::unique_ptr<pg::conn> hold_room_lock(const std::string& room) {
    std::string why;
    auto c = pg::conn::connect(opts_.url + "_other", why);
    EXPECT_TRUE(c) << why;
    if (!c) return nullptr;
    auto o = std::move(c).value();
    std::string lock = "SELECT 1 FROM rooms WHERE id = '" + room + "' FOR UPDATE";
    if (!o->exec("BEGIN") || !o->exec(lock.c_str())) {
      ADD_FAILURE() << o->error_message();
      return nullptr;
    }
    return o;
  }

  std::string schema_;
  std::string app_;
  options opts_;
};

// Two nodes batch appends into the same rooms (groups, and direct rooms both create on first
// use) in opposite orders: every append succeeds, seq stays contiguous per room, and the
// sorted room locking leaves PostgreSQL no deadlock to break.
TEST_F(postgres_store_test, two_nodes_append_concurrently_keep_seq_contiguous) {
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  const std::vector<std::string> rooms = {"g:a", "g:b", "g:c", "g:d", "dm:u0:u1", "dm:u1:u2"};
  for (const auto& r : rooms) {
    if (ids::is_direct(r)) continue;
    ASSERT_TRUE(a->create_group(r, r, "t0", {"t0"}, now_ms()));
  }
  auto deadlocks_before =
      scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()");

  constexpr int threads_per_node = 4, per_thread = 120;
  struct issued {
    std::string room;
    std::future<result<append_result>> f;
  };
  std::vector<std::vector<issued>> out(2 * threads_per_node);
  std::vector<std::thread> ts;
  for (int n = 0; n < 2; ++n) {
    for (int k = 0; k < threads_per_node; ++k) {
      int t = n * threads_per_node + k;
      ts.emplace_back([&, n, t] {
        store& s = n == 0 ? *a : *b;
        for (int i = 0; i < per_thread; ++i) {
          // Node 0 walks the rooms forwards, node 1 backwards.
          auto idx = static_cast<std::size_t>(i + t) % rooms.size();
          const auto& room = n == 0 ? rooms[idx] : rooms[rooms.size() - 1 - idx];
          std::string sender = "t" + std::to_string(t);
          if (room == "dm:u0:u1") sender = t % 2 ? "u0" : "u1";
          if (room == "dm:u1:u2") sender = t % 2 ? "u1" : "u2";
          std::optional<std::string> cid;
          if (i % 4 == 0) cid = "c" + std::to_string(t) + "-" + std::to_string(i);
          out[t].push_back({room, append_async(s, make_req(room, sender, cid))});
        }
      });
    }
  }
  for (auto& th : ts) th.join();

  std::map<std::string, std::set<std::int64_t>> by_room;
  for (auto& per_thread_issued : out) {
    std::map<std::string, std::int64_t> prev;
    for (auto& [room, f] : per_thread_issued) {
      auto r = wait(f);
      ASSERT_TRUE(r) << room << ": " << r.error().message();
      EXPECT_FALSE(r.value().duplicate);
      EXPECT_GT(r.value().msg.seq, prev[room]) << "one thread's appends keep their order";
      prev[room] = r.value().msg.seq;
      EXPECT_TRUE(by_room[room].insert(r.value().msg.seq).second) << "seq reused in " << room;
    }
  }
  std::size_t total = 0;
  for (const auto& room : rooms) {
    const auto& got = by_room[room];
    auto n = static_cast<std::int64_t>(got.size());
    total += got.size();
    ASSERT_GT(n, 0);
    EXPECT_EQ(*got.begin(), 1);
    EXPECT_EQ(*got.rbegin(), n) << room << ": seqs have a gap";
    EXPECT_EQ(b->get_room(room).value().last_seq, n);
    EXPECT_EQ(a->range(room, 1, n).value().size(), got.size());
  }
  EXPECT_EQ(total, std::size_t{2 * threads_per_node * per_thread});
  EXPECT_EQ(a->members("dm:u0:u1").value(), (std::vector<std::string>{"u0", "u1"}));

  // Closing the connections flushes their statistics.
  a.reset();
  b.reset();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"),
            deadlocks_before);
}

// A repeated cid that another writer commits while the batch waits for its room's lock:
// the appends that run after the lock see it, answer the other writer's row as the stored
// one and use up no seq.
TEST_F(postgres_store_test, repeat_committed_by_another_writer_while_the_batch_waits) {
  auto s = open_named_with_room("g:r");
  ASSERT_TRUE(s);
  ASSERT_TRUE(append(*s, "g:r", "alice", "c0"));  // seq 1

  auto o = hold_room_lock("g:r");
  ASSERT_TRUE(o);
  auto mine = append_async(*s, make_req("g:r", "alice", "c1", "mine"));
  ASSERT_TRUE(one_waits_for_lock()) << "the batch statement never waited for the room's lock";
  ASSERT_TRUE(
      o->exec("INSERT INTO messages(room, seq, id, sender, cid, text, ts) VALUES"
              " ('g:r', 2, '01ARZ3NDEKTSV4RRFFQ69G5FAV', 'alice', 'c1', 'theirs', 7)"));
  ASSERT_TRUE(o->exec("UPDATE rooms SET last_seq = 2 WHERE id = 'g:r'"));
  ASSERT_TRUE(o->exec("COMMIT"));

  auto r = wait(mine);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE(r.value().duplicate);
  EXPECT_EQ(r.value().msg.seq, 2);
  EXPECT_EQ(r.value().msg.text, "theirs");
  EXPECT_EQ(r.value().msg.id, "01ARZ3NDEKTSV4RRFFQ69G5FAV");
  auto next = append(*s, "g:r", "alice", "c2");
  ASSERT_TRUE(next);
  EXPECT_EQ(next.value().msg.seq, 3);
  EXPECT_EQ(s->range("g:r", 1, 10).value().size(), 3u);
}

// One append of a batch the server refuses (here bytes that are not UTF-8, which the
// WebSocket and HTTP layers never let through): it alone fails, the batch runs again
// without it, the others are stored in order.
TEST_F(postgres_store_test, refused_append_keeps_the_good_appends_of_its_batch) {
  auto s = open_named_with_room("g:r");
  ASSERT_TRUE(s);
  // Hold the room's lock so that the next appends queue up and go as one batch.
  auto o = hold_room_lock("g:r");
  ASSERT_TRUE(o);
  auto first = append_async(*s, make_req("g:r", "alice", "a", "first"));
  ASSERT_TRUE(one_waits_for_lock());
  auto bad = append_async(*s, make_req("g:r", "alice", "b", "\xff\xfe not UTF-8"));
  auto good = append_async(*s, make_req("g:r", "alice", "c", "second"));
  ASSERT_TRUE(o->exec("COMMIT"));

  auto r1 = wait(first), rb = wait(bad), r2 = wait(good);
  ASSERT_TRUE(r1 && r2);
  EXPECT_EQ(r1.value().msg.seq, 1);
  EXPECT_EQ(r2.value().msg.seq, 2);
  EXPECT_FALSE(rb);
  auto all = s->range("g:r", 1, 10);
  ASSERT_TRUE(all);
  ASSERT_EQ(all.value().size(), 2u);
  EXPECT_EQ(all.value()[1].text, "second");
}

// The writer's connection is lost while its batch runs (here: terminated while it waits
// for a room lock). Whether that run committed is unknown to the writer; the batch
// runs again on a fresh connection (a run that did commit would be recognized by its message
// ids) and the append succeeds, stored once.
TEST_F(postgres_store_test, batch_runs_again_when_its_connection_is_lost) {
  auto s = open_named_with_room("g:r");
  ASSERT_TRUE(s);
  auto o = hold_room_lock("g:r");
  ASSERT_TRUE(o);
  auto f = append_async(*s, make_req("g:r", "alice", std::nullopt, "survives"));
  ASSERT_TRUE(one_waits_for_lock());
  EXPECT_EQ(scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE"
                   " application_name = '" +
                   app_ + "' AND wait_event_type = 'Lock'"),
            1);
  ASSERT_TRUE(o->exec("COMMIT"));
  auto r = wait(f);
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r.value().msg.seq, 1);
  EXPECT_FALSE(r.value().duplicate);
  EXPECT_EQ(s->range("g:r", 1, 10).value().size(), 1u);
}

// conn::pipeline, which the writer sends each group commit with: every step's rows in
// order; a failing step stops the rest (its transaction left to roll back) and the
// connection stays usable; a connection killed under it is reported, never reused.
TEST_F(postgres_store_test, pipeline_returns_each_step_and_stops_at_a_failure) {
  name_connections();
  std::string why;
  auto cr = pg::conn::connect(opts_.url, why);
  ASSERT_TRUE(cr) << why;
  auto& c = *cr.value();
  const std::string begin = "BEGIN", commit = "COMMIT", plus = "SELECT $1::bigint + 1",
                    div = "SELECT 10 / $1::bigint",
                    make = "CREATE TEMP TABLE IF NOT EXISTS t(x bigint)",
                    put = "INSERT INTO t(x) VALUES ($1::bigint) RETURNING x";
  ASSERT_TRUE(c.exec(make.c_str()));
  std::size_t failed = 99;

  auto ok = c.pipeline({{&begin, {}},
                        {&plus, pg::params{}.add(std::int64_t{41})},
                        {&put, pg::params{}.add(std::int64_t{7})},
                        {&div, pg::params{}.add(std::int64_t{5})},
                        {&commit, {}}},
                       failed);
  ASSERT_TRUE(ok) << c.error_message();
  EXPECT_EQ(failed, 5u);
  ASSERT_EQ(ok.value().size(), 5u);
  EXPECT_EQ(ok.value()[1].i64(0, 0), 42);
  EXPECT_EQ(ok.value()[2].i64(0, 0), 7);
  EXPECT_EQ(ok.value()[3].i64(0, 0), 2);
  EXPECT_FALSE(c.in_transaction());

  // Division by zero at step 2: step 3 (an insert) does not run, COMMIT neither.
  auto bad = c.pipeline({{&begin, {}},
                         {&put, pg::params{}.add(std::int64_t{8})},
                         {&div, pg::params{}.add(std::int64_t{0})},
                         {&put, pg::params{}.add(std::int64_t{9})},
                         {&commit, {}}},
                        failed);
  ASSERT_FALSE(bad);
  EXPECT_EQ(failed, 2u);
  EXPECT_EQ(c.sqlstate(), "22012");
  EXPECT_TRUE(c.in_transaction());
  ASSERT_TRUE(c.exec("ROLLBACK"));
  ASSERT_TRUE(c.alive());
  auto rows = c.query("SELECT count(*), sum(x) FROM t");
  ASSERT_TRUE(rows);
  EXPECT_EQ(rows.value().i64(0, 0), 1);  // only the 7 of the committed pipeline
  EXPECT_EQ(rows.value().i64(0, 1), 7);

  // Usable again, in and out of pipeline mode.
  ok = c.pipeline({{&plus, pg::params{}.add(std::int64_t{1})}}, failed);
  ASSERT_TRUE(ok) << c.error_message();
  EXPECT_EQ(ok.value()[0].i64(0, 0), 2);

  // The backend terminated: unavailable, no step to blame, and alive() says so.
  ASSERT_TRUE(
      t::pg_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                  " WHERE application_name = '" +
                  app_ + "'"));
  std::this_thread::sleep_for(100ms);
  auto lost =
      c.pipeline({{&begin, {}}, {&plus, pg::params{}.add(std::int64_t{1})}, {&commit, {}}}, failed);
  ASSERT_FALSE(lost);
  EXPECT_EQ(lost.error(), make_error_code(errc::unavailable));
  EXPECT_EQ(failed, 3u);
  EXPECT_FALSE(c.alive());
}

// The answer of a group commit is lost with its connection after PostgreSQL committed it
// (a proxy drops the "COMMIT" reply): the writer cannot know that the batch is stored. It
// runs the batch again on a fresh connection and answers every append of it as stored
// once, with the seq it got, with or without a cid; nothing is stored twice.
TEST_F(postgres_store_test, commit_whose_answer_is_lost_is_stored_once) {
  auto where = t::pg_query("SELECT host(inet_server_addr()), inet_server_port()");
  if (!where || where->empty() || where->front().size() != 2 || where->front()[0].empty() ||
      where->front()[0].find(':') != std::string::npos)
    GTEST_SKIP() << "PostgreSQL is not reached over TCP/IPv4 here";
  commit_answer_cutter proxy(where->front()[0], std::stoi(where->front()[1]));
  ASSERT_NE(proxy.port(), 0);
  name_connections();
  options o = opts_;
  // In clear text, or the proxy could not see the reply it drops.
  o.url +=
      "&sslmode=disable&gssencmode=disable&host=127.0.0.1&port=" + std::to_string(proxy.port());
  auto s = open(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->create_group("g:r", "r", "alice", {"alice"}, now_ms()));

  // Appends queue up while the writer's first batch waits for the room: the second batch
  // holds all but the first, and its COMMIT answer is the one lost.
  auto lock = hold_room_lock("g:r");
  ASSERT_TRUE(lock);
  std::vector<append_request> reqs;
  std::vector<std::future<result<append_result>>> fs;
  for (int i = 0; i < 8; ++i) {
    auto cid = i % 2 ? std::optional<std::string>("c" + std::to_string(i)) : std::nullopt;
    reqs.push_back(make_req("g:r", "alice", cid, "m" + std::to_string(i)));
    fs.push_back(append_async(*s, reqs.back()));
    if (i == 0) {
      ASSERT_TRUE(one_waits_for_lock());
    }
  }
  proxy.arm(2);
  ASSERT_TRUE(lock->exec("COMMIT"));

  std::set<std::int64_t> seqs;
  for (std::size_t i = 0; i < fs.size(); ++i) {
    auto r = wait(fs[i]);
    ASSERT_TRUE(r) << i << ": " << r.error().message();
    EXPECT_FALSE(r.value().duplicate) << i;
    EXPECT_EQ(r.value().msg.id, reqs[i].id);
    EXPECT_EQ(r.value().msg.text, reqs[i].text);
    seqs.insert(r.value().msg.seq);
  }
  EXPECT_EQ(proxy.cuts(), 1);
  EXPECT_EQ(seqs, (std::set<std::int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(count("messages"), 8);
  EXPECT_EQ(scalar("SELECT last_seq FROM \"" + schema_ + "\".rooms WHERE id = 'g:r'"), 8);
  // A client that sends again with the same cid gets the same message.
  auto again = wait(fs.emplace_back(append_async(*s, make_req("g:r", "alice", "c3", "m3"))));
  ASSERT_TRUE(again);
  EXPECT_TRUE(again.value().duplicate);
  EXPECT_EQ(again.value().msg.id, reqs[3].id);
}

// A passing failure (here a deadlock error injected by a trigger, once) that strikes at one
// append's statement fails the whole run, which goes again: every append of the batch is
// stored, that one too, instead of that append being answered with the error.
TEST_F(postgres_store_test, passing_failure_at_an_append_runs_the_batch_again) {
  auto s = open_named_with_room("g:r");
  ASSERT_TRUE(s);
  const std::string q = "\"" + schema_ + "\"";
  std::string err;
  ASSERT_TRUE(t::pg_query("CREATE SEQUENCE " + q + ".boom; CREATE FUNCTION " + q +
                              ".boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                              " IF NEW.text = 'boom' THEN IF nextval('" +
                              q +
                              ".boom') = 1 THEN"
                              "  RAISE EXCEPTION 'injected' USING ERRCODE = '40P01';"
                              " END IF; END IF;"
                              " RETURN NEW; END $$; CREATE TRIGGER boom BEFORE INSERT ON " +
                              q + ".messages FOR EACH ROW EXECUTE FUNCTION " + q + ".boom()",
                          &err))
      << err;
  // Queued while the writer waits for the room: one batch of all three.
  auto lock = hold_room_lock("g:r");
  ASSERT_TRUE(lock);
  auto first = append_async(*s, make_req("g:r", "alice", std::nullopt, "first"));
  ASSERT_TRUE(one_waits_for_lock());
  std::vector<std::future<result<append_result>>> fs;
  for (const char* text : {"a", "boom", "c"})
    fs.push_back(append_async(*s, make_req("g:r", "alice", std::nullopt, text)));
  ASSERT_TRUE(lock->exec("COMMIT"));
  ASSERT_TRUE(wait(first));
  std::set<std::int64_t> seqs;
  for (auto& f : fs) {
    auto r = wait(f);
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_FALSE(r.value().duplicate);
    seqs.insert(r.value().msg.seq);
  }
  EXPECT_EQ(seqs, (std::set<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(count("messages"), 4);
  EXPECT_EQ(scalar("SELECT last_value FROM " + q + ".boom"), 2);  // it did fire once
}

// Nodes starting at once on an empty database (the schema does not exist yet): every open
// succeeds and each migration is applied once.
// A server, database or role whose defaults are SERIALIZABLE and synchronous_commit off
// (here the url's options, which act as ALTER ROLE ... SET would): every store connection
// runs READ COMMITTED with synchronous_commit on, keeps the url's other settings, and two
// writers hammering one room store every append with contiguous seqs (under SERIALIZABLE
// their lock waits end in serialization failures, and batches run out of attempts).
TEST_F(postgres_store_test, session_defaults_the_store_relies_on_are_set) {
  auto with = [&](const std::string& extra) {
    return t::pg_url_with_schema(t::pg_base_url(), schema_ + extra);
  };
  opts_.url =
      with("%20-csynchronous_commit%3Doff%20-cdefault_transaction_isolation%3Dserializable");
  std::string why;
  auto cr = pg::conn::connect(opts_.url, why);
  ASSERT_TRUE(cr) << why;
  auto show = [](pg::conn& c, const char* what) {
    auto r = c.exec((std::string("SHOW ") + what).c_str());
    return r ? r.value().str(0, 0) : "error: " + c.error_message();
  };
  EXPECT_EQ(show(*cr.value(), "synchronous_commit"), "on");
  EXPECT_EQ(show(*cr.value(), "default_transaction_isolation"), "read committed");
  EXPECT_EQ(show(*cr.value(), "search_path"), schema_);
  // Every level that flushes the WAL locally before COMMIT returns is the operator's choice.
  auto local = pg::conn::connect(with("%20-csynchronous_commit%3Dlocal"), why);
  ASSERT_TRUE(local) << why;
  EXPECT_EQ(show(*local.value(), "synchronous_commit"), "local");

  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->create_group("g:hot", "hot", "alice", {"alice"}, now_ms()));
  constexpr int writers = 6, per_writer = 60;
  std::vector<std::vector<std::future<result<append_result>>>> out(writers);
  std::vector<std::thread> ts;
  for (int w = 0; w < writers; ++w)
    ts.emplace_back([&, w] {
      for (int i = 0; i < per_writer; ++i)
        out[w].push_back(append_async(w % 2 ? *b : *a, make_req("g:hot", "alice")));
    });
  for (auto& th : ts) th.join();
  std::set<std::int64_t> seqs;
  for (auto& fs : out)
    for (auto& f : fs) {
      auto r = wait(f);
      ASSERT_TRUE(r) << r.error().message();
      EXPECT_TRUE(seqs.insert(r.value().msg.seq).second);
    }
  ASSERT_EQ(seqs.size(), std::size_t{writers * per_writer});
  EXPECT_EQ(*seqs.rbegin(), writers * per_writer);
}

TEST_F(postgres_store_test, concurrent_opens_apply_each_migration_once) {
  constexpr int nodes = 6;
  std::atomic<int> ready{0};
  std::vector<std::unique_ptr<store>> stores(nodes);
  std::vector<std::string> whys(nodes);
  std::vector<std::thread> ts;
  for (int i = 0; i < nodes; ++i)
    ts.emplace_back([&, i] {
      ++ready;
      while (ready.load() < nodes) std::this_thread::yield();
      auto r = make_store(opts_, whys[i]);
      if (r) stores[i] = std::move(r).value();
    });
  for (auto& th : ts) th.join();
  for (int i = 0; i < nodes; ++i) ASSERT_TRUE(stores[i]) << "node " << i << ": " << whys[i];

  std::string err;
  auto rows =
      t::pg_query("SELECT version FROM \"" + schema_ + "\".schema_version ORDER BY version", &err);
  ASSERT_TRUE(rows) << err;
  ASSERT_EQ(rows->size(), static_cast<std::size_t>(pg::latest_version()));
  for (int v = 1; v <= pg::latest_version(); ++v)
    EXPECT_EQ((*rows)[static_cast<std::size_t>(v - 1)][0], std::to_string(v));

  // And they all work on the same tables.
  ASSERT_TRUE(stores[0]->create_group("g:r", "r", "alice", {"alice"}, now_ms()));
  for (int i = 0; i < nodes; ++i)
    EXPECT_EQ(append(*stores[i], "g:r", "alice").value().msg.seq, i + 1);
}

TEST_F(postgres_store_test, newer_schema_is_refused) {
  ASSERT_TRUE(open());
  ASSERT_TRUE(t::pg_query("INSERT INTO \"" + schema_ +
                          "\".schema_version(version, name) VALUES (999, 'future')"));
  std::string why;
  auto r = make_store(opts_, why);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::invalid);
  EXPECT_NE(why.find("newer"), std::string::npos) << why;
}

TEST_F(postgres_store_test, outbox_rows_claimed_leased_and_done) {
  auto plain = open();  // no outbox: no rows
  ASSERT_TRUE(plain);
  ASSERT_TRUE(plain->create_group("g:r", "r", "alice", {"alice"}, now_ms()));
  ASSERT_TRUE(append(*plain, "g:r", "alice"));
  EXPECT_EQ(count("outbox"), 0);
  plain.reset();

  opts_.outbox = true;
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(append(*a, "g:r", "alice", "c" + std::to_string(i)));
  ASSERT_TRUE(append(*a, "dm:alice:bob", "bob"));
  ASSERT_TRUE(append(*a, "g:r", "alice", "c0"));  // a repeat writes no outbox row
  EXPECT_EQ(count("outbox"), 5);

  // Too young for min_age: nothing.
  EXPECT_TRUE(a->outbox_claim(100, 1h, 60s).value().empty());

  auto first = a->outbox_claim(100, 0ms, 300ms);
  ASSERT_TRUE(first) << first.error().message();
  ASSERT_EQ(first.value().size(), 5u);
  std::vector<std::int64_t> r_seqs;
  for (const auto& m : first.value())
    if (m.room == "g:r") r_seqs.push_back(m.seq);
  EXPECT_EQ(r_seqs, (std::vector<std::int64_t>{2, 3, 4, 5}));  // oldest first
  EXPECT_EQ(first.value().front().sender, "alice");

  // Leased: another node gets nothing until the lease runs out.
  EXPECT_TRUE(b->outbox_claim(100, 0ms, 60s).value().empty());
  std::this_thread::sleep_for(500ms);
  auto second = b->outbox_claim(3, 0ms, 60s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second.value().size(), 3u);  // the limit holds
  auto third = b->outbox_claim(100, 0ms, 60s);
  ASSERT_TRUE(third);
  EXPECT_EQ(third.value().size(), 2u);
  EXPECT_TRUE(a->outbox_claim(100, 0ms, 60s).value().empty());

  std::vector<std::pair<std::string, std::int64_t>> keys;
  for (const auto& m : second.value()) keys.emplace_back(m.room, m.seq);
  ASSERT_TRUE(b->outbox_done(keys));
  EXPECT_EQ(count("outbox"), 2);
  keys.clear();
  for (const auto& m : third.value()) keys.emplace_back(m.room, m.seq);
  ASSERT_TRUE(b->outbox_done(keys));
  ASSERT_TRUE(b->outbox_done(keys));  // idempotent
  EXPECT_EQ(count("outbox"), 0);
  EXPECT_TRUE(b->outbox_claim(100, 0ms, 0ms).value().empty());
}

// Claimers on two nodes racing over the same rows: FOR UPDATE SKIP LOCKED and the lease
// give every row to exactly one of them.
TEST_F(postgres_store_test, concurrent_claimers_never_share_a_row) {
  opts_.outbox = true;
  auto a = open();
  auto b = open();
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->create_group("g:r", "r", "alice", {"alice"}, now_ms()));
  constexpr int n = 300;
  std::vector<std::future<result<append_result>>> fs;
  for (int i = 0; i < n; ++i)
    fs.push_back(append_async(i % 2 ? *a : *b, make_req(i % 3 ? "g:r" : "dm:a:b", "a")));
  for (auto& f : fs) ASSERT_TRUE(wait(f));

  std::mutex mu;
  std::vector<std::pair<std::string, std::int64_t>> claimed;
  std::vector<std::thread> ts;
  for (int k = 0; k < 8; ++k)
    ts.emplace_back([&, k] {
      store& s = k % 2 ? *a : *b;
      for (;;) {
        auto r = s.outbox_claim(7, 0ms, 60s);
        ASSERT_TRUE(r) << r.error().message();
        if (r.value().empty()) return;
        std::lock_guard lk(mu);
        for (const auto& m : r.value()) claimed.emplace_back(m.room, m.seq);
      }
    });
  for (auto& th : ts) th.join();
  std::set<std::pair<std::string, std::int64_t>> unique(claimed.begin(), claimed.end());
  EXPECT_EQ(unique.size(), claimed.size()) << "a row was claimed twice";
  EXPECT_EQ(claimed.size(), std::size_t{n});
}

TEST_F(postgres_store_test, unreachable_server_and_bad_url) {
  int port = free_port();
  ASSERT_GT(port, 0);
  options o;
  o.url = "postgresql://parley:s3cretpw@127.0.0.1:" + std::to_string(port) + "/test";
  std::string why;
  auto r = make_store(o, why);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::unavailable);
  EXPECT_NE(why.find("127.0.0.1"), std::string::npos) << why;
  EXPECT_EQ(why.find("s3cretpw"), std::string::npos) << why;

  o.url = "postgresql://parley:s3cretpw@127.0.0.1/test?sslmode=%zz";
  why.clear();
  r = make_store(o, why);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::invalid);
  EXPECT_EQ(why.find("s3cretpw"), std::string::npos) << why;

  // A refused login is unavailable too, and says why, without the password.
  o.url = t::pg_url_with_schema(t::pg_base_url(), schema_);
  o.url += "&dbname=parley_no_such_database";
  why.clear();
  r = make_store(o, why);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::unavailable);
  EXPECT_NE(why.find("parley_no_such_database"), std::string::npos) << why;
}

// The server drops every connection of the node (pg_terminate_backend: what a failover or an
// administrator does). The next calls reconnect: nothing fails, nothing is lost.
TEST_F(postgres_store_test, recovers_from_terminated_connections) {
  name_connections();
  const std::string app = app_;
  auto s = open();
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->create_group("g:r", "r", "alice", {"alice"}, now_ms()));
  ASSERT_TRUE(append(*s, "g:r", "alice"));
  // Check out several pool connections at once so that more than one is connected.
  {
    std::vector<std::thread> ts;
    for (int i = 0; i < 3; ++i)
      ts.emplace_back([&] { EXPECT_TRUE(s->snapshot_for_join("g:r", "alice", 0, 5)); });
    for (auto& th : ts) th.join();
  }
  auto live = [&] {
    return scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'");
  };
  ASSERT_GE(live(), 2);

  for (int round = 0; round < 2; ++round) {
    ASSERT_TRUE(
        t::pg_query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = '" +
                    app + "'"));
    for (int i = 0; i < 100 && live() > 0; ++i) std::this_thread::sleep_for(20ms);
    ASSERT_EQ(live(), 0);

    auto r = append(*s, "g:r", "alice", "after-" + std::to_string(round));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r.value().msg.seq, round + 2);
    ASSERT_TRUE(s->ping());
    auto h = s->history("g:r", std::nullopt, 10);
    ASSERT_TRUE(h) << h.error().message();
    EXPECT_EQ(h.value().messages.size(), static_cast<std::size_t>(round + 2));
    EXPECT_TRUE(s->snapshot_for_join("g:r", "alice", std::nullopt, 5));
    EXPECT_TRUE(s->set_read("g:r", "alice", 1));
    EXPECT_TRUE(s->is_member("g:r", "alice").value());
  }
}

// A PostgreSQL server of the test's own (initdb in a temporary directory, a free port), so
// that stopping it disturbs no other test. Runs the server binaries as `postgres` when the
// test runs as root (initdb refuses root).
class pg_instance {
 public:
  pg_instance() {
    const char* bin_env = std::getenv("PARLEY_PG_BIN");
    bin_ = bin_env ? bin_env : "/usr/lib/postgresql/15/bin";
    if (!std::filesystem::exists(bin_ + "/initdb")) {
      skip_ = "no PostgreSQL server binaries in " + bin_ + " (set PARLEY_PG_BIN)";
      return;
    }
    dir_ = t::temp_dir("pg-instance");
    std::filesystem::create_directories(dir_);
    port_ = free_port();
    if (::geteuid() == 0 && std::system(("chown postgres " + dir_).c_str()) != 0) {
      skip_ = "running as root and cannot hand " + dir_ + " to user postgres";
      return;
    }
    if (!sh(bin_ + "/initdb -D " + dir_ + "/data -U postgres -A trust --no-sync >" + dir_ +
            "/initdb.log 2>&1")) {
      skip_ = "initdb failed (see " + dir_ + "/initdb.log)";
      return;
    }
    if (!start()) skip_ = "the test's own PostgreSQL did not start (see " + dir_ + "/log)";
  }
  ~pg_instance() {
    if (!dir_.empty()) {
      (void)stop();
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }

  const std::string& skip_reason() const { return skip_; }
  std::string url() const {
    return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/postgres";
  }
  bool start() {
    return sh(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/log -w -t 60 -o \"-p " +
              std::to_string(port_) + " -k " + dir_ +
              " -c listen_addresses=127.0.0.1 -c fsync=off\" start >/dev/null 2>&1");
  }
  // Immediate: connections are cut, as when the server crashes.
  bool stop() {
    return sh(bin_ + "/pg_ctl -D " + dir_ + "/data -m immediate -w stop >/dev/null 2>&1");
  }

 private:
  bool sh(const std::string& cmd) {
    std::string full = ::geteuid() == 0 ? "su postgres -s /bin/sh -c '" + cmd + "'" : cmd;
    return std::system(full.c_str()) == 0;
  }

  std::string bin_, dir_, skip_;
  int port_ = 0;
};

TEST_F(postgres_store_test, server_down_then_back) {
  pg_instance pg;
  if (!pg.skip_reason().empty()) GTEST_SKIP() << pg.skip_reason();
  options o = opts_;
  o.url = pg.url() + "?connect_timeout=2";
  auto s = open(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->create_group("g:r", "r", "alice", {"alice"}, now_ms()));
  ASSERT_TRUE(append(*s, "g:r", "alice"));
  ASSERT_TRUE(s->ping());

  ASSERT_TRUE(pg.stop());
  // Nothing is acknowledged that is not stored.
  auto down = append(*s, "g:r", "alice", "while-down");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error(), errc::unavailable);
  EXPECT_EQ(append(*s, "dm:alice:bob", "bob").error(), errc::unavailable);
  EXPECT_EQ(s->ping().error(), errc::unavailable);
  EXPECT_EQ(s->history("g:r", std::nullopt, 10).error(), errc::unavailable);
  std::string why;
  EXPECT_EQ(make_store(o, why).error(), errc::unavailable);

  ASSERT_TRUE(pg.start());
  auto back = append(*s, "g:r", "alice", "while-down");  // the client's retry
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_FALSE(back.value().duplicate);
  EXPECT_EQ(back.value().msg.seq, 2);
  ASSERT_TRUE(s->ping());
  EXPECT_EQ(s->history("g:r", std::nullopt, 10).value().messages.size(), 2u);
  EXPECT_EQ(append(*s, "dm:alice:bob", "bob").value().msg.seq, 1);
}

}  // namespace
}  // namespace parley::store
