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
  EXPECT_EQ(raw("SELECT max(version) FROM schema_version"), "2");
  EXPECT_EQ(raw("SELECT count(*) FROM schema_version"), "2");
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
