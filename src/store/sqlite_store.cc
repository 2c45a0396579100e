#include "store/sqlite_store.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>

#include "base/ids.h"
#include "base/thread_name.h"
#include "store/rules.h"
#include "store/sqlite_migrations.h"
#include "store/sqlite_wal_gather.h"

namespace parley::store {
namespace {

using sqlite::db;
using sqlite::statement;

constexpr int k_busy_timeout_ms = 5000;
// Reads go through a memory map of the database file (the OS page cache, shared by every
// connection) instead of a pread() per page; the writer's own page cache holds the hot
// b-tree pages of the append path.
constexpr const char* k_read_pragmas = "PRAGMA mmap_size = 1073741824;";
constexpr const char* k_writer_cache = "PRAGMA cache_size = -65536;";  // KiB: 64 MiB
// The WAL size (pages, 256 MiB) at which the writer checkpoints by itself. Under steady
// writes this is what starts the WAL over (the checkpointer never finds it wholly copied
// with the writer idle, which SQLite needs for that), and the writer's checkpoint stalls
// every commit behind its database fsync (10-28 ms here): the larger the bound, the rarer
// the stall (it costs the same: the checkpointer copied all but the last 200 ms). 64 MiB
// stalled ~1.4 times a second at 15,000 dm sends/s (docs/bench/log.md). The WAL file
// keeps its largest size until the store closes; a crash recovery reads all of it.
constexpr int k_wal_cap_pages = 65536;
constexpr auto k_checkpoint_interval = std::chrono::milliseconds(200);

constexpr std::string_view k_message_columns = "seq, id, sender, cid, text, ts";

// Reads a row selected with k_message_columns.
message read_message(const statement& st, const std::string& room) {
  message m;
  m.room = room;
  m.seq = st.column_int(0);
  m.id = st.column_text(1);
  m.sender = st.column_text(2);
  m.cid = st.column_opt_text(3);
  m.text = st.column_text(4);
  m.ts = st.column_int(5);
  return m;
}

result<std::vector<message>> read_messages(statement& st, const std::string& room) {
  std::vector<message> out;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, st.step());
    if (!row) return out;
    out.push_back(read_message(st, room));
  }
}

// A room's last seq is its newest message's, 0 before the first (the `(room, seq)` key
// answers with one seek; see migration 3). `room` is the SQL expression of the room id.
std::string last_seq_sql(std::string_view room) {
  return "(SELECT coalesce(max(seq), 0) FROM messages WHERE room = " + std::string(room) + ")";
}

// Newest first, seq < bound, at most n rows.
result<std::vector<message>> newest_before(db& c, const std::string& room_id, std::int64_t bound,
                                           int n) {
  static const std::string sql = std::string("SELECT ") + std::string(k_message_columns) +
                                 " FROM messages WHERE room = ?1 AND seq < ?2"
                                 " ORDER BY seq DESC LIMIT ?3";
  BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
  q.bind(1, room_id).bind(2, bound).bind(3, std::int64_t{n});
  return read_messages(q, room_id);
}

// Oldest first, seq > after, at most n rows.
result<std::vector<message>> oldest_after(db& c, const std::string& room_id, std::int64_t after,
                                          int n) {
  static const std::string sql = std::string("SELECT ") + std::string(k_message_columns) +
                                 " FROM messages WHERE room = ?1 AND seq > ?2"
                                 " ORDER BY seq ASC LIMIT ?3";
  BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
  q.bind(1, room_id).bind(2, after).bind(3, std::int64_t{n});
  return read_messages(q, room_id);
}

result<std::vector<std::string>> member_list(db& c, const std::string& room_id) {
  BOOST_OUTCOME_TRY(auto q, c.prepare("SELECT user FROM members WHERE room = ?1 ORDER BY user"));
  q.bind(1, room_id);
  std::vector<std::string> out;
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return out;
    out.push_back(q.column_text(0));
  }
}

result<void> set_pragmas(db& c, std::string& why) {
  // journal_mode answers with the mode in effect; anything but "wal" means no WAL.
  auto mode = [&]() -> result<std::string> {
    BOOST_OUTCOME_TRY(auto q, c.prepare("PRAGMA journal_mode = WAL"));
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return make_error_code(errc::internal);
    return q.column_text(0);
  }();
  if (!mode) {
    why = "cannot open sqlite database '" + c.path() + "': " + c.error_message();
    return mode.error();
  }
  if (mode.value() != "wal") {
    why = "cannot switch '" + c.path() + "' to WAL mode (got '" + mode.value() + "')";
    return make_error_code(errc::unavailable);
  }
  std::string sql = "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = " +
                    std::to_string(k_busy_timeout_ms) +
                    "; PRAGMA wal_autocheckpoint = " + std::to_string(k_wal_cap_pages) + ";" +
                    k_read_pragmas + k_writer_cache;
  if (auto r = c.exec(sql.c_str()); !r) {
    why = "cannot configure '" + c.path() + "': " + c.error_message();
    return r.error();
  }
  // An ack means a synced commit, and the writer's WAL VFS relies on that sync
  // (sqlite_wal_gather.h): FULL (2) or EXTRA (3), whatever the build's default.
  auto sync = [&]() -> result<std::int64_t> {
    BOOST_OUTCOME_TRY(auto q, c.prepare("PRAGMA synchronous"));
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return make_error_code(errc::internal);
    return q.column_int(0);
  }();
  if (!sync || sync.value() < 2) {
    why = "cannot set synchronous = FULL on '" + c.path() + "'";
    return make_error_code(errc::unavailable);
  }
  return success();
}

}  // namespace

// ---- open / close ----------------------------------------------------------------------

result<std::unique_ptr<store>> sqlite_store::open(const std::string& path, const options& opts,
                                                  std::string& why) {
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      why = "cannot create directory '" + parent.string() + "' for the database: " + ec.message();
      return make_error_code(errc::unavailable);
    }
  }
  // The writer's WAL writes are gathered into one system call per commit (see
  // sqlite_wal_gather.h: safe because the writer commits with synchronous = FULL, set by
  // set_pragmas() before anything is written).
  if (int rc = sqlite::register_wal_gather_vfs(); rc != SQLITE_OK) {
    why = std::string("cannot register the sqlite WAL VFS: ") + sqlite3_errstr(rc);
    return make_error_code(errc::internal);
  }
  BOOST_OUTCOME_TRY(auto writer, db::open(path, false, why, sqlite::k_wal_gather_vfs));
  BOOST_OUTCOME_TRY(set_pragmas(*writer, why));
  BOOST_OUTCOME_TRY(sqlite::migrate(*writer, why));

  // The readers, and one more of the same kind for ping() alone.
  std::vector<std::unique_ptr<db>> readers;
  for (int i = 0; i < std::max(opts.readers, 1) + 1; ++i) {
    BOOST_OUTCOME_TRY(auto r, db::open(path, true, why));
    std::string sql =
        "PRAGMA busy_timeout = " + std::to_string(k_busy_timeout_ms) + ";" + k_read_pragmas;
    if (auto e = r->exec(sql.c_str()); !e) {
      why = "cannot configure reader of '" + path + "': " + r->error_message();
      return e.error();
    }
    readers.push_back(std::move(r));
  }
  auto health = std::move(readers.back());
  readers.pop_back();
  // A checkpoint writes to the database file: a read-write connection (it never writes rows).
  BOOST_OUTCOME_TRY(auto checkpointer, db::open(path, false, why));
  {
    std::string sql = "PRAGMA busy_timeout = " + std::to_string(k_busy_timeout_ms) +
                      "; PRAGMA wal_autocheckpoint = 0;";
    if (auto e = checkpointer->exec(sql.c_str()); !e) {
      why = "cannot configure the checkpointer of '" + path + "': " + checkpointer->error_message();
      return e.error();
    }
  }
  spdlog::info("store: opened sqlite database {} (schema {}, {} readers)", path,
               sqlite::latest_version(), readers.size());
  return std::unique_ptr<store>(new sqlite_store(std::move(writer), std::move(readers),
                                                 std::move(checkpointer), std::move(health), opts));
}

sqlite_store::sqlite_store(std::unique_ptr<db> writer, std::vector<std::unique_ptr<db>> readers,
                           std::unique_ptr<db> checkpointer, std::unique_ptr<db> health,
                           const options& opts)
    : writer_(std::move(writer)),
      idle_readers_(std::move(readers)),
      appends_(opts, k_sqlite_commit_interval),
      health_(std::move(health)),
      checkpointer_(std::move(checkpointer)) {
  appends_.start([this](const auto& batch, auto& results) { commit_batch(batch, results); });
  checkpoint_thread_ = std::thread([this] { checkpoint_loop(); });
  name_thread(checkpoint_thread_, "store-ckpt");
}

void sqlite_store::checkpoint_loop() {
  std::uint64_t seen = commits_.load();
  std::unique_lock lk(ckpt_mu_);
  while (!ckpt_stop_) {
    ckpt_cv_.wait_for(lk, k_checkpoint_interval, [&] { return ckpt_stop_; });
    if (ckpt_stop_) break;
    std::uint64_t now = commits_.load();
    if (now == seen) continue;
    seen = now;
    lk.unlock();
    // PASSIVE: copies what no reader still needs, never waits for or blocks the writer.
    if (auto r = checkpointer_->exec("PRAGMA wal_checkpoint(PASSIVE);"); !r) {
      spdlog::warn("store: checkpoint failed: {}", checkpointer_->error_message());
    }
    lk.lock();
  }
}

sqlite_store::~sqlite_store() { close(); }

void sqlite_store::close() {
  std::lock_guard lk(close_mu_);
  closed_.store(true);
  appends_.stop();
  {
    std::lock_guard c(ckpt_mu_);
    ckpt_stop_ = true;
  }
  ckpt_cv_.notify_all();
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
}

// ---- helpers -----------------------------------------------------------------------------

sqlite_store::lease::~lease() {
  {
    std::lock_guard lk(s_.pool_mu_);
    s_.idle_readers_.push_back(std::move(c_));
  }
  s_.pool_cv_.notify_one();
}

sqlite_store::lease sqlite_store::acquire_reader() {
  std::unique_lock lk(pool_mu_);
  pool_cv_.wait(lk, [&] { return !idle_readers_.empty(); });
  auto c = std::move(idle_readers_.back());
  idle_readers_.pop_back();
  return lease(*this, std::move(c));
}

template <class F>
auto sqlite_store::read_txn(F&& f) -> decltype(f(std::declval<db&>())) {
  if (closed_.load()) return make_error_code(errc::closed);
  auto l = acquire_reader();
  db& c = *l;
  if (auto b = c.run("BEGIN"); !b) return b.error();
  auto r = f(c);
  if (c.in_transaction() && !c.run("COMMIT")) (void)c.run("ROLLBACK");
  return r;
}

template <class F>
auto sqlite_store::write_txn(F&& f) -> decltype(f(std::declval<db&>())) {
  if (closed_.load()) return make_error_code(errc::closed);
  std::lock_guard lk(write_mu_);
  db& c = *writer_;
  if (auto b = c.run("BEGIN IMMEDIATE"); !b) return b.error();
  auto r = f(c);
  if (!r) {
    if (c.in_transaction()) (void)c.run("ROLLBACK");
    return r;
  }
  if (auto cm = c.run("COMMIT"); !cm) {
    if (c.in_transaction()) (void)c.run("ROLLBACK");
    return make_error_code(errc::unavailable);
  }
  return r;
}

result<std::optional<std::int64_t>> sqlite_store::last_seq_of(db& c, const std::string& room_id) {
  static const std::string sql = "SELECT " + last_seq_sql("?1") + " FROM rooms WHERE id = ?1";
  BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
  q.bind(1, room_id);
  BOOST_OUTCOME_TRY(auto row, q.step());
  if (!row) return std::optional<std::int64_t>{};
  return std::optional<std::int64_t>{q.column_int(0)};
}

result<void> sqlite_store::create_direct(db& c, const std::string& room_id, std::int64_t now) {
  BOOST_OUTCOME_TRY(auto ins_room,
                    c.prepare("INSERT INTO rooms(id, kind, name, created_by, created_at)"
                              " VALUES (?1, 'direct', '', '', ?2) ON CONFLICT(id) DO NOTHING"));
  ins_room.bind(1, room_id).bind(2, now);
  BOOST_OUTCOME_TRY(ins_room.run());
  auto [a, b] = ids::direct_members(room_id);
  for (const auto& user : {a, b}) {
    BOOST_OUTCOME_TRY(auto ins, c.prepare("INSERT INTO members(room, user, joined_at, read_seq)"
                                          " VALUES (?1, ?2, ?3, 0) ON CONFLICT DO NOTHING"));
    ins.bind(1, room_id).bind(2, user).bind(3, now);
    BOOST_OUTCOME_TRY(ins.run());
  }
  return success();
}

result<room_kind> sqlite_store::kind_of(db& c, const std::string& room_id) {
  BOOST_OUTCOME_TRY(auto q, c.prepare("SELECT kind FROM rooms WHERE id = ?1"));
  q.bind(1, room_id);
  BOOST_OUTCOME_TRY(auto row, q.step());
  if (!row) return make_error_code(errc::not_found);
  return q.column_text(0) == "direct" ? room_kind::direct : room_kind::group;
}

// ---- writes other than append --------------------------------------------------------------

result<void> sqlite_store::ensure_direct_room(const std::string& room_id, std::int64_t now) {
  if (!ids::valid_direct_room(room_id)) return make_error_code(errc::invalid);
  // Usually the room exists: answer from a reader without taking the write lock.
  BOOST_OUTCOME_TRY(auto exists, read_txn([&](db& c) -> result<bool> {
                      auto k = kind_of(c, room_id);
                      if (k) return true;
                      if (k.error() == errc::not_found) return false;
                      return k.error();
                    }));
  if (exists) return success();
  return write_txn([&](db& c) { return create_direct(c, room_id, now); });
}

result<room> sqlite_store::create_group(const std::string& room_id, const std::string& name,
                                        const std::string& creator,
                                        const std::vector<std::string>& members, std::int64_t now) {
  BOOST_OUTCOME_TRY(auto users, new_group_members(room_id, name, creator, members));
  return write_txn([&](db& c) -> result<room> {
    BOOST_OUTCOME_TRY(auto ins_room, c.prepare("INSERT INTO rooms(id, kind, name, created_by,"
                                               " created_at) VALUES (?1, 'group', ?2, ?3, ?4)"));
    ins_room.bind(1, room_id).bind(2, name).bind(3, creator).bind(4, now);
    BOOST_OUTCOME_TRY(ins_room.run());  // a repeated id: constraint -> conflict
    for (const auto& u : users) {
      BOOST_OUTCOME_TRY(auto ins, c.prepare("INSERT INTO members(room, user, joined_at, read_seq)"
                                            " VALUES (?1, ?2, ?3, 0)"));
      ins.bind(1, room_id).bind(2, u).bind(3, now);
      BOOST_OUTCOME_TRY(ins.run());
    }
    return new_group_room(room_id, name, creator, now, users);
  });
}

result<bool> sqlite_store::add_member(const std::string& room_id, const std::string& user,
                                      std::int64_t now) {
  if (!ids::valid_user(user)) return make_error_code(errc::invalid);
  return write_txn([&](db& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto kind, kind_of(c, room_id));
    if (kind == room_kind::direct) return make_error_code(errc::invalid);
    BOOST_OUTCOME_TRY(auto ins, c.prepare("INSERT INTO members(room, user, joined_at, read_seq)"
                                          " VALUES (?1, ?2, ?3, 0) ON CONFLICT DO NOTHING"));
    ins.bind(1, room_id).bind(2, user).bind(3, now);
    BOOST_OUTCOME_TRY(ins.run());
    return c.changes() == 1;
  });
}

result<bool> sqlite_store::remove_member(const std::string& room_id, const std::string& user) {
  return write_txn([&](db& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto kind, kind_of(c, room_id));
    if (kind == room_kind::direct) return make_error_code(errc::invalid);
    BOOST_OUTCOME_TRY(auto del, c.prepare("DELETE FROM members WHERE room = ?1 AND user = ?2"));
    del.bind(1, room_id).bind(2, user);
    BOOST_OUTCOME_TRY(del.run());
    return c.changes() == 1;
  });
}

result<std::int64_t> sqlite_store::set_read(const std::string& room_id, const std::string& user,
                                            std::int64_t seq) {
  return write_txn([&](db& c) -> result<std::int64_t> {
    // Only a marker that moves forward is written: an unchanged one costs no fsync.
    static const std::string sql = "UPDATE members SET read_seq = min(?3, " + last_seq_sql("?1") +
                                   ") WHERE room = ?1 AND user = ?2 AND read_seq < min(?3, " +
                                   last_seq_sql("?1") + ") RETURNING read_seq";
    BOOST_OUTCOME_TRY(auto up, c.prepare(sql));
    up.bind(1, room_id).bind(2, user).bind(3, seq);
    BOOST_OUTCOME_TRY(auto moved, up.step());
    if (moved) {
      auto v = up.column_int(0);
      BOOST_OUTCOME_TRY(up.run());
      return v;
    }
    BOOST_OUTCOME_TRY(auto q,
                      c.prepare("SELECT read_seq FROM members WHERE room = ?1 AND user = ?2"));
    q.bind(1, room_id).bind(2, user);
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return make_error_code(errc::not_found);
    return q.column_int(0);
  });
}

// ---- reads -----------------------------------------------------------------------------------

result<room> sqlite_store::get_room(const std::string& room_id) {
  return read_txn([&](db& c) -> result<room> {
    static const std::string sql = "SELECT kind, name, created_by, created_at, " +
                                   last_seq_sql("?1") + " FROM rooms WHERE id = ?1";
    BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
    q.bind(1, room_id);
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return make_error_code(errc::not_found);
    room r;
    r.id = room_id;
    r.kind = q.column_text(0) == "direct" ? room_kind::direct : room_kind::group;
    r.name = q.column_text(1);
    r.created_by = q.column_text(2);
    r.created_at = q.column_int(3);
    r.last_seq = q.column_int(4);
    BOOST_OUTCOME_TRY(r.members, member_list(c, room_id));
    return r;
  });
}

result<std::vector<std::string>> sqlite_store::members(const std::string& room_id) {
  return read_txn([&](db& c) -> result<std::vector<std::string>> {
    BOOST_OUTCOME_TRY(kind_of(c, room_id));
    return member_list(c, room_id);
  });
}

result<bool> sqlite_store::is_member(const std::string& room_id, const std::string& user) {
  if (closed_.load()) return make_error_code(errc::closed);
  if (auto direct = direct_membership(room_id, user)) return *direct;
  return read_txn([&](db& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto q, c.prepare("SELECT 1 FROM members WHERE room = ?1 AND user = ?2"));
    q.bind(1, room_id).bind(2, user);
    return q.step();
  });
}

result<std::optional<message>> sqlite_store::find_cid(const std::string& room_id,
                                                      const std::string& sender,
                                                      const std::string& cid) {
  return read_txn([&](db& c) -> result<std::optional<message>> {
    static const std::string sql = std::string("SELECT ") + std::string(k_message_columns) +
                                   " FROM messages WHERE room = ?1 AND sender = ?2 AND cid = ?3";
    BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
    q.bind(1, room_id).bind(2, sender).bind(3, cid);
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return std::optional<message>{};
    return std::optional<message>{read_message(q, room_id)};
  });
}

result<std::vector<room_summary>> sqlite_store::rooms_of(const std::string& user) {
  return read_txn([&](db& c) -> result<std::vector<room_summary>> {
    static const std::string sql =
        "SELECT id, name, kind, last_seq, read_seq FROM (SELECT r.id, r.name, r.kind, " +
        last_seq_sql("r.id") +
        " AS last_seq, m.read_seq FROM members m JOIN rooms r ON r.id = m.room"
        " WHERE m.user = ?1) WHERE kind = 'group' OR last_seq > 0 ORDER BY id";
    BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
    q.bind(1, user);
    std::vector<room_summary> out;
    for (;;) {
      BOOST_OUTCOME_TRY(auto row, q.step());
      if (!row) return out;
      room_summary s;
      s.id = q.column_text(0);
      s.name = q.column_text(1);
      s.kind = q.column_text(2) == "direct" ? room_kind::direct : room_kind::group;
      s.last_seq = q.column_int(3);
      s.read_seq = q.column_int(4);
      out.push_back(std::move(s));
    }
  });
}

result<page> sqlite_store::history(const std::string& room_id, std::optional<std::int64_t> before,
                                   int limit) {
  limit = clamp_limit(limit);
  return read_txn([&](db& c) -> result<page> {
    BOOST_OUTCOME_TRY(kind_of(c, room_id));  // not_found for an unknown room
    BOOST_OUTCOME_TRY(auto rows, newest_before(c, room_id, history_bound(before), limit + 1));
    return finish_page_desc(std::move(rows), limit);
  });
}

result<page> sqlite_store::page_after(const std::string& room_id, std::int64_t after, int limit) {
  limit = clamp_limit(limit);
  return read_txn([&](db& c) -> result<page> {
    BOOST_OUTCOME_TRY(kind_of(c, room_id));  // not_found for an unknown room
    BOOST_OUTCOME_TRY(auto rows, oldest_after(c, room_id, after, limit + 1));
    return finish_page_asc(std::move(rows), limit);
  });
}

result<std::vector<message>> sqlite_store::range(const std::string& room_id, std::int64_t first,
                                                 std::int64_t last) {
  first = clamp_range_first(first);
  return read_txn([&](db& c) -> result<std::vector<message>> {
    BOOST_OUTCOME_TRY(kind_of(c, room_id));  // not_found for an unknown room
    if (last < first) return std::vector<message>{};
    static const std::string sql = std::string("SELECT ") + std::string(k_message_columns) +
                                   " FROM messages WHERE room = ?1 AND seq BETWEEN ?2 AND ?3"
                                   " ORDER BY seq ASC";
    BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
    q.bind(1, room_id).bind(2, first).bind(3, last);
    return read_messages(q, room_id);
  });
}

result<join_snapshot> sqlite_store::snapshot_for_join(const std::string& room_id, const std::string& user,
                                         std::optional<std::int64_t> since, int limit) {
  limit = clamp_limit(limit);
  // One read transaction: last_seq, read_seq and the page come from the same snapshot.
  return read_txn([&](db& c) -> result<join_snapshot> {
    static const std::string sql = "SELECT " + last_seq_sql("r.id") +
                                   ", m.read_seq FROM rooms r"
                                   " JOIN members m ON m.room = r.id AND m.user = ?2"
                                   " WHERE r.id = ?1";
    BOOST_OUTCOME_TRY(auto q, c.prepare(sql));
    q.bind(1, room_id).bind(2, user);
    BOOST_OUTCOME_TRY(auto row, q.step());
    if (!row) return make_error_code(errc::not_found);
    return make_join_snapshot(
        q.column_int(0), q.column_int(1), since, limit,
        [&](std::int64_t bound, int n) { return newest_before(c, room_id, bound, n); },
        [&](std::int64_t after, int n) { return oldest_after(c, room_id, after, n); });
  });
}

result<void> sqlite_store::ping() {
  if (closed_.load()) return make_error_code(errc::closed);
  std::lock_guard lk(health_mu_);
  BOOST_OUTCOME_TRY(auto q, health_->prepare("SELECT count(*) FROM schema_version"));
  BOOST_OUTCOME_TRY(q.step());
  return success();
}

}  // namespace parley::store
