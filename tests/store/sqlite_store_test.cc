// SQLite-specific behaviour of the store: pragmas, migrations, urls, durability.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <string>

#include "base/ids.h"
#include "store/sqlite_migrations.h"
#include "store/store.h"
#include "store/store_test_backends.h"

extern char** environ;

namespace parley::store {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class sqlite_store_test : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    path_ = dir_ + "/sub/dir/parley.sqlite";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  result<std::unique_ptr<store>> open(std::string* why_out = nullptr) {
    options o;
    o.url = "sqlite:" + path_;
    o.readers = 2;
    std::string why;
    auto r = make_store(o, why);
    if (why_out) *why_out = why;
    return r;
  }
  // Runs one SQL statement on a separate raw connection; returns the first column of the
  // first row as text ("" when none).
  std::string raw(const std::string& sql) {
    sqlite3* h = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &h), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    std::string out;
    EXPECT_EQ(sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(h);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr)
      out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
  }

  std::string dir_, path_;
};

TEST_F(sqlite_store_test, creates_parent_directories_and_uses_wal) {
  ASSERT_FALSE(fs::exists(fs::path(path_).parent_path()));
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_TRUE(fs::exists(path_));
  EXPECT_EQ(raw("PRAGMA journal_mode"), "wal");
  EXPECT_TRUE(fs::exists(path_ + "-wal"));
}

// The store's threads carry names (top -H, perf, gdb): the writer and the checkpointer.
TEST_F(sqlite_store_test, threads_are_named) {
  auto names = [] {
    std::multiset<std::string> out;
    for (const auto& t : fs::directory_iterator("/proc/self/task")) {
      std::ifstream f(t.path() / "comm");
      std::string n;
      std::getline(f, n);
      out.insert(n);
    }
    return out;
  };
  auto before = names();
  auto s = open();
  ASSERT_TRUE(s);
  auto after = names();
  EXPECT_EQ(after.count("store-writer"), before.count("store-writer") + 1);
  EXPECT_EQ(after.count("store-ckpt"), before.count("store-ckpt") + 1);
}

TEST_F(sqlite_store_test, schema_version_recorded_once) {
  { ASSERT_TRUE(open()); }
  { ASSERT_TRUE(open()); }  // a second open applies nothing
  const auto latest = std::to_string(sqlite::latest_version());
  EXPECT_EQ(raw("SELECT max(version) FROM schema_version"), latest);
  EXPECT_EQ(raw("SELECT count(*) FROM schema_version"), latest);
  EXPECT_EQ(raw("SELECT count(*) FROM sqlite_master WHERE name = 'members_by_user'"), "1");
}

TEST_F(sqlite_store_test, newer_schema_is_refused) {
  { ASSERT_TRUE(open()); }
  raw("INSERT INTO schema_version(version, name, applied_at) VALUES (99, 'future', 0)");
  std::string why;
  auto s = open(&why);
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error(), errc::invalid);
  EXPECT_NE(why.find("newer"), std::string::npos) << why;
}

// Migration 3 (a room's last seq read from its newest message, no longer stored): a database
// written by an earlier version keeps every room's seq, and appends go on from it.
TEST_F(sqlite_store_test, upgrade_keeps_each_rooms_last_seq) {
  fs::create_directories(fs::path(path_).parent_path());
  {
    sqlite3* h = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &h), SQLITE_OK);
    std::string sql =
        "CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, name TEXT NOT NULL,"
        " applied_at INTEGER NOT NULL);";
    for (const auto& m : sqlite::migrations()) {
      if (m.version > 2) break;
      sql += m.sql;
      sql += "INSERT INTO schema_version VALUES (" + std::to_string(m.version) + ", 'v', 0);";
    }
    sql +=
        "INSERT INTO rooms(id, kind, name, created_by, created_at, last_seq) VALUES"
        " ('g:r', 'group', 'R', 'alice', 1, 2), ('g:empty', 'group', 'E', 'alice', 1, 0),"
        " ('dm:alice:bob', 'direct', '', '', 1, 1);"
        "INSERT INTO members(room, user, joined_at, read_seq) VALUES ('g:r', 'alice', 1, 1),"
        " ('g:empty', 'alice', 1, 0), ('dm:alice:bob', 'alice', 1, 0), ('dm:alice:bob', 'bob', 1, "
        "0);"
        "INSERT INTO messages(room, seq, id, sender, cid, text, ts) VALUES"
        " ('g:r', 1, '01A', 'alice', 'c1', 'one', 1), ('g:r', 2, '01B', 'alice', 'c2', 'two', 2),"
        " ('dm:alice:bob', 1, '01C', 'bob', NULL, 'hi', 3);";
    char* err = nullptr;
    ASSERT_EQ(sqlite3_exec(h, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << err;
    sqlite3_close(h);
  }
  auto s = open();
  ASSERT_TRUE(s);
  EXPECT_EQ(raw("SELECT max(version) FROM schema_version"), "3");
  EXPECT_EQ(raw("SELECT count(*) FROM pragma_table_info('rooms') WHERE name = 'last_seq'"), "0");
  auto& st = *s.value();
  auto last_seq = [&](const std::string& room) -> std::int64_t {
    auto r = st.get_room(room);
    EXPECT_TRUE(r) << room << ": " << r.error().message();
    return r ? r.value().last_seq : -1;
  };
  EXPECT_EQ(last_seq("g:r"), 2);
  EXPECT_EQ(last_seq("g:empty"), 0);
  EXPECT_EQ(last_seq("dm:alice:bob"), 1);
  auto rooms = st.rooms_of("alice");
  ASSERT_TRUE(rooms) << rooms.error().message();
  ASSERT_EQ(rooms.value().size(), 3u);  // g:empty too: a group room is listed without messages
  EXPECT_EQ(rooms.value()[0].id, "dm:alice:bob");
  EXPECT_EQ(rooms.value()[0].last_seq, 1);
  EXPECT_EQ(rooms.value()[2].id, "g:r");
  EXPECT_EQ(rooms.value()[2].last_seq, 2);
  EXPECT_EQ(rooms.value()[2].read_seq, 1);

  auto append = [&](const std::string& room, const std::string& sender,
                    const char* cid) -> append_result {
    append_request r;
    r.room = room;
    r.sender = sender;
    r.id = ids::new_message_id(10);
    if (cid) r.cid = cid;
    r.text = "after";
    r.ts = 10;
    std::promise<result<append_result>> p;
    st.append(r, [&](result<append_result> a) { p.set_value(std::move(a)); });
    auto got = p.get_future().get();
    EXPECT_TRUE(got) << room << ": " << got.error().message();
    return got ? got.value() : append_result{};
  };
  EXPECT_EQ(append("g:r", "alice", "c3").msg.seq, 3);
  auto again = append("g:r", "alice", "c2");  // a cid stored before the upgrade
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.msg.seq, 2);
  EXPECT_EQ(again.msg.text, "two");
  EXPECT_EQ(append("g:empty", "alice", nullptr).msg.seq, 1);
  EXPECT_EQ(append("dm:alice:bob", "alice", nullptr).msg.seq, 2);
  auto j = st.snapshot_for_join("g:r", "alice", 0, 10);
  ASSERT_TRUE(j) << j.error().message();
  EXPECT_EQ(j.value().last_seq, 3);
  EXPECT_EQ(j.value().replay.messages.size(), 3u);
  auto read = st.set_read("g:r", "alice", 99);
  ASSERT_TRUE(read) << read.error().message();
  EXPECT_EQ(read.value(), 3);
}

TEST_F(sqlite_store_test, urls) {
  std::string why;
  options o;
  // PostgreSQL urls go to postgres_store (postgres_store_test.cc); nothing listens on port 1.
  o.url = "postgresql://user:secret@127.0.0.1:1/parley";
  auto pg = make_store(o, why);
  ASSERT_FALSE(pg);
  EXPECT_EQ(pg.error(), errc::unavailable);
  EXPECT_NE(why.find("PostgreSQL"), std::string::npos) << why;
  EXPECT_EQ(why.find("secret"), std::string::npos) << why;
  o.url = "postgres://127.0.0.1:1/parley";
  EXPECT_EQ(make_store(o, why).error(), errc::unavailable);
  o.url = "mysql://db";
  EXPECT_EQ(make_store(o, why).error(), errc::invalid);
  o.url = "sqlite:";
  EXPECT_EQ(make_store(o, why).error(), errc::invalid);
  o.url = "sqlite::memory:";
  EXPECT_EQ(make_store(o, why).error(), errc::invalid);
  o.url = "sqlite://" + path_;  // sqlite:///abs/path
  EXPECT_TRUE(make_store(o, why)) << why;
  EXPECT_STREQ(make_error_code(errc::closed).category().name(), "parley.store");
}

TEST_F(sqlite_store_test, unopenable_path_is_an_error) {
  fs::create_directories(dir_);
  std::ofstream(dir_ + "/file") << "x";
  path_ = dir_ + "/file/parley.sqlite";  // parent is a regular file
  std::string why;
  auto s = open(&why);
  ASSERT_FALSE(s);
  EXPECT_FALSE(why.empty());

  path_ = dir_;  // a directory
  s = open(&why);
  ASSERT_FALSE(s);
  EXPECT_NE(why.find(dir_), std::string::npos) << why;

  std::ofstream(dir_ + "/garbage") << std::string(8192, 'x');
  path_ = dir_ + "/garbage";  // not a database
  s = open(&why);
  ASSERT_FALSE(s);
  EXPECT_FALSE(why.empty());
}

// The child half of acked_appends_survive_sigkill: appends forever, writing each acked seq
// to the fd named by PARLEY_STORE_CHILD_FD.
TEST_F(sqlite_store_test, durability_child) {
  const char* url = std::getenv("PARLEY_STORE_CHILD_URL");
  const char* fd_s = std::getenv("PARLEY_STORE_CHILD_FD");
  if (url == nullptr || fd_s == nullptr) GTEST_SKIP() << "run by acked_appends_survive_sigkill";
  int fd = std::atoi(fd_s);
  options o;
  o.url = url;
  auto s = make_store(o).value();
  for (int i = 0;; ++i) {
    append_request r;
    r.room = "dm:a:b";
    r.sender = "a";
    r.cid = "c" + std::to_string(i);
    r.text = "t" + std::to_string(i);
    r.ts = i;
    r.id = ids::new_message_id(i);
    std::promise<void> done;
    s->append(std::move(r), [&](result<append_result> res) {
      if (res) {
        auto line = std::to_string(res.value().msg.seq) + "\n";
        (void)!::write(fd, line.data(), line.size());
      }
      done.set_value();
    });
    done.get_future().wait();
  }
}

TEST_F(sqlite_store_test, acked_appends_survive_sigkill) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  std::string url = "sqlite:" + path_;
  std::string env_url = "PARLEY_STORE_CHILD_URL=" + url;
  std::string env_fd = "PARLEY_STORE_CHILD_FD=" + std::to_string(p[1]);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(env_url.data());
  env.push_back(env_fd.data());
  env.push_back(nullptr);
  std::string self = fs::read_symlink("/proc/self/exe").string();
  std::string filter = "--gtest_filter=sqlite_store_test.durability_child";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, env.data()), 0);
  ::close(p[1]);

  std::int64_t max_acked = 0, acked = 0;
  std::string buf;
  char chunk[256];
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (acked < 40 && std::chrono::steady_clock::now() < deadline) {
    auto n = ::read(p[0], chunk, sizeof chunk);
    if (n <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      max_acked = std::max<std::int64_t>(max_acked, std::stoll(buf.substr(0, nl)));
      ++acked;
      buf.erase(0, nl + 1);
    }
  }
  ::kill(pid, SIGKILL);  // right after an ack, mid-stream
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(p[0]);
  ASSERT_GE(acked, 40) << "child did not ack";

  auto s = open();
  ASSERT_TRUE(s);
  auto room = s.value()->get_room("dm:a:b");
  ASSERT_TRUE(room);
  EXPECT_GE(room.value().last_seq, max_acked);
  auto all = s.value()->range("dm:a:b", 1, room.value().last_seq);
  ASSERT_TRUE(all);
  ASSERT_EQ(static_cast<std::int64_t>(all.value().size()), room.value().last_seq);
  for (std::size_t i = 0; i < all.value().size(); ++i)
    EXPECT_EQ(all.value()[i].cid, "c" + std::to_string(i));
}

}  // namespace
}  // namespace parley::store
