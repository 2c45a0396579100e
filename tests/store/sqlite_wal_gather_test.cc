// The WAL-gathering VFS (store/sqlite_wal_gather.h): a commit's WAL writes leave in few
// system calls, and the database reads, recovers and fails exactly as with the default VFS.
#include "store/sqlite_wal_gather.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "store/store_test_backends.h"

namespace parley::store::sqlite {
namespace {

namespace fs = std::filesystem;

// One raw connection; `vfs` nullptr is the default VFS.
class conn {
 public:
  conn(const std::string& path, const char* vfs, int extra_flags = 0) {
    int rc = sqlite3_open_v2(path.c_str(), &h_,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | extra_flags, vfs);
    if (rc != SQLITE_OK) ADD_FAILURE() << "open " << path << ": " << sqlite3_errstr(rc);
  }
  ~conn() { sqlite3_close_v2(h_); }
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  int exec(const std::string& sql) {
    return sqlite3_exec(h_, sql.c_str(), nullptr, nullptr, nullptr);
  }
  void ok(const std::string& sql) {
    ASSERT_EQ(exec(sql), SQLITE_OK) << sql << ": " << sqlite3_errmsg(h_);
  }
  std::string text(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    std::string out;
    if (sqlite3_prepare_v2(h_, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(st, 0);
      out = t != nullptr ? reinterpret_cast<const char*>(t) : "";
    } else {
      ADD_FAILURE() << sql << ": " << sqlite3_errmsg(h_);
    }
    sqlite3_finalize(st);
    return out;
  }
  std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* h_ = nullptr;
};

class sqlite_wal_gather_test : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(register_wal_gather_vfs(), SQLITE_OK);
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
    path_ = dir_ + "/db.sqlite";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // A writer through the VFS, as sqlite_store opens it: WAL, synchronous FULL.
  std::unique_ptr<conn> writer() {
    auto c = std::make_unique<conn>(path_, k_wal_gather_vfs);
    c->ok("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0");
    return c;
  }
  std::string dir_, path_;
};

// 4 rows of 1 KiB in each of 8 tables: a commit of at least 8 leaf pages, each of which
// SQLite writes to the WAL as a frame header and a page (two writes).
void insert_spread(conn& c, int round) {
  c.ok("BEGIN");
  for (int t = 0; t < 8; ++t)
    for (int i = 0; i < 4; ++i)
      c.ok("INSERT INTO t" + std::to_string(t) + "(k, v) VALUES (" + std::to_string(round * 4 + i) +
           ", zeroblob(1024))");
  c.ok("COMMIT");
}

TEST_F(sqlite_wal_gather_test, a_commit_leaves_in_one_write) {
  auto w = writer();
  for (int t = 0; t < 8; ++t)
    w->ok("CREATE TABLE t" + std::to_string(t) + " (k INTEGER PRIMARY KEY, v BLOB)");
  insert_spread(*w, 0);  // the WAL header and the first frames

  auto before = wal_gather_counters();
  const int commits = 20;
  for (int r = 1; r <= commits; ++r) insert_spread(*w, r);
  auto after = wal_gather_counters();

  const auto writes = after.writes - before.writes;
  const auto flushes = after.flushes - before.flushes;
  EXPECT_GE(writes, 16u * commits) << "SQLite writes each frame as header + page";
  // 8+ pages of ~4 KiB: one write per commit (two when a commit crosses the buffer's size).
  EXPECT_LE(flushes, 2u * commits) << writes << " writes became " << flushes << " system calls";
  EXPECT_EQ(after.failures, before.failures);

  // Another connection, on the default VFS, reads every row.
  conn r(path_, nullptr);
  for (int t = 0; t < 8; ++t)
    EXPECT_EQ(r.integer("SELECT count(*) FROM t" + std::to_string(t)), 4 * (commits + 1));
}

// A commit larger than the buffer (and than the 128 KiB the unix VFS writes per call) goes
// out in several writes and is whole: read by another connection and after recovery.
TEST_F(sqlite_wal_gather_test, a_large_commit_is_whole) {
  {
    auto w = writer();
    w->ok("CREATE TABLE big (k INTEGER PRIMARY KEY, v TEXT)");
    w->ok("BEGIN");
    w->ok(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)"
        " INSERT INTO big SELECT i, printf('%0900d', i) FROM n");  // ~2.7 MB, ~700 pages
    w->ok("COMMIT");
    conn r(path_, nullptr);
    EXPECT_EQ(r.integer("SELECT count(*) FROM big"), 3000);
    EXPECT_EQ(r.text("SELECT v FROM big WHERE k = 2999"), std::string(896, '0') + "2999");
    // Closing the last connections leaves the WAL to recovery below when it is not removed.
  }
  conn again(path_, k_wal_gather_vfs);
  EXPECT_EQ(again.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(again.integer("SELECT sum(k) FROM big"), 3000 * 3001 / 2);
}

// With a tiny page cache SQLite spills a transaction's pages to the WAL before the commit,
// reads them back, and writes some of them again in place: every one of those reads and
// rewrites must see the bytes written before.
TEST_F(sqlite_wal_gather_test, spilled_pages_read_back_and_rewritten) {
  auto w = writer();
  w->ok("PRAGMA cache_size = 8; PRAGMA cache_spill = 1");
  w->ok("CREATE TABLE s (k INTEGER PRIMARY KEY, v TEXT, n INTEGER)");
  w->ok("CREATE INDEX s_by_v ON s(v)");
  w->ok("BEGIN");
  w->ok(
      "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)"
      " INSERT INTO s SELECT i, printf('%0200d', (i * 7919) % 4001), 0 FROM n");
  w->ok("UPDATE s SET n = k * 2, v = v || 'x'");
  w->ok("DELETE FROM s WHERE k % 3 = 0");
  w->ok("COMMIT");
  EXPECT_EQ(w->text("PRAGMA integrity_check"), "ok");

  conn r(path_, nullptr);
  EXPECT_EQ(r.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(r.integer("SELECT count(*) FROM s"), 4000 - 1333);
  EXPECT_EQ(r.integer("SELECT count(*) FROM s WHERE n = k * 2 AND v LIKE '%x'"), 4000 - 1333);
}

// A WAL write that fails (here: the process's file size limit) fails the commit: nothing of
// it is visible, the earlier data is intact, and the connection commits again afterwards.
TEST_F(sqlite_wal_gather_test, a_failed_write_fails_the_commit) {
  auto w = writer();
  w->ok("CREATE TABLE f (k INTEGER PRIMARY KEY, v TEXT)");
  w->ok("INSERT INTO f VALUES (1, 'kept')");

  const auto wal = fs::file_size(path_ + "-wal");
  struct sigaction ignore {
  }, old{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGXFSZ, &ignore, &old), 0);  // EFBIG instead of the signal
  rlimit saved{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit small = saved;
  small.rlim_cur = static_cast<rlim_t>(wal + 8192);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);

  auto failures = wal_gather_counters().failures;
  w->ok("BEGIN");
  w->ok(
      "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
      " INSERT INTO f SELECT i, printf('%0500d', i) FROM n");  // ~100 KB of WAL
  int rc = w->exec("COMMIT");

  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &saved), 0);
  ASSERT_EQ(sigaction(SIGXFSZ, &old, nullptr), 0);

  EXPECT_NE(rc, SQLITE_OK) << "the commit must fail when its frames could not be written";
  EXPECT_GT(wal_gather_counters().failures, failures);
  (void)w->exec("ROLLBACK");  // when SQLite left the transaction open

  conn r(path_, nullptr);
  EXPECT_EQ(r.integer("SELECT count(*) FROM f"), 1);
  EXPECT_EQ(r.text("SELECT v FROM f WHERE k = 1"), "kept");

  w->ok("INSERT INTO f VALUES (2, 'after')");
  EXPECT_EQ(r.integer("SELECT count(*) FROM f"), 2);
  EXPECT_EQ(r.text("PRAGMA integrity_check"), "ok");
}

// Without powersafe overwrite SQLite pads a commit to a sector boundary and writes part of
// its last frame after the sync: such a WAL is not gathered, and reads stay correct.
TEST_F(sqlite_wal_gather_test, no_powersafe_overwrite_writes_go_straight_through) {
  conn w("file:" + path_ + "?psow=0", k_wal_gather_vfs, SQLITE_OPEN_URI);
  w.ok("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA wal_autocheckpoint = 0");
  w.ok("CREATE TABLE p (k INTEGER PRIMARY KEY, v TEXT)");
  conn r(path_, nullptr);
  auto before = wal_gather_counters();
  for (int i = 1; i <= 20; ++i) {
    w.ok("INSERT INTO p VALUES (" + std::to_string(i) + ", printf('%0300d', " + std::to_string(i) +
         "))");
    ASSERT_EQ(r.integer("SELECT count(*) FROM p"), i);  // every commit, read by another
  }
  auto after = wal_gather_counters();
  EXPECT_EQ(after.flushes - before.flushes, after.writes - before.writes);
  EXPECT_EQ(r.text("PRAGMA integrity_check"), "ok");
}

// Frames that a rolled-back transaction spilled must not land on top of what another
// connection commits at the same offsets afterwards (the WAL write lock's release hands
// them over first).
TEST_F(sqlite_wal_gather_test, another_writer_after_a_rolled_back_spill) {
  auto w = writer();
  w->ok("PRAGMA cache_size = 5");
  w->ok("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)");
  w->ok("INSERT INTO t VALUES (1, 'original')");
  conn other(path_, nullptr);
  other.ok("PRAGMA wal_checkpoint(PASSIVE)");
  w->ok("BEGIN");
  w->ok(
      "WITH RECURSIVE n(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM n WHERE i < 200)"
      " INSERT INTO t SELECT i, printf('%0500d', i) FROM n");
  w->ok("ROLLBACK");

  other.ok("UPDATE t SET v = 'changed'");
  other.ok(
      "CREATE TABLE u (x, y); WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n"
      " WHERE i < 300) INSERT INTO u SELECT i, printf('%0500d', i) FROM n");
  w->ok("INSERT INTO t VALUES (500, 'w')");

  conn fresh(path_, nullptr);
  EXPECT_EQ(fresh.text("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(fresh.text("SELECT v FROM t WHERE k = 1"), "changed");
  EXPECT_EQ(fresh.integer("SELECT count(*) FROM t"), 2);
  EXPECT_EQ(fresh.integer("SELECT sum(x) FROM u"), 300 * 301 / 2);
}

// The store's pattern: a writer committing while another connection checkpoints (PASSIVE),
// so that the WAL is reused from its start again and again.
TEST_F(sqlite_wal_gather_test, checkpoints_and_wal_reuse) {
  auto w = writer();
  w->ok("CREATE TABLE c (k INTEGER PRIMARY KEY, v TEXT)");
  conn ckpt(path_, nullptr);
  conn r(path_, nullptr);
  int k = 0;
  for (int round = 0; round < 30; ++round) {
    w->ok("BEGIN");
    for (int i = 0; i < 20; ++i, ++k)
      w->ok("INSERT INTO c VALUES (" + std::to_string(k) + ", printf('%0400d', " +
            std::to_string(k) + "))");
    w->ok("COMMIT");
    if (round % 3 == 2) ckpt.ok("PRAGMA wal_checkpoint(PASSIVE)");
    ASSERT_EQ(r.integer("SELECT count(*) FROM c"), k);
  }
  ckpt.ok("PRAGMA wal_checkpoint(TRUNCATE)");
  w->ok("INSERT INTO c VALUES (-1, 'after truncate')");
  EXPECT_EQ(r.integer("SELECT count(*) FROM c"), k + 1);
  EXPECT_EQ(r.text("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace parley::store::sqlite
