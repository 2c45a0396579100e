#include "store/sqlite_migrations.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <string>

namespace parley::store::sqlite {
namespace {

constexpr migration k_migrations[] = {
    {1, "rooms, members, messages", R"sql(
CREATE TABLE rooms (
  id         TEXT    NOT NULL PRIMARY KEY,
  kind       TEXT    NOT NULL CHECK (kind IN ('direct', 'group')),
  name       TEXT    NOT NULL DEFAULT '',
  created_by TEXT    NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  last_seq   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE members (
  room      TEXT    NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  user      TEXT    NOT NULL,
  joined_at INTEGER NOT NULL,
  read_seq  INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members(user, room);
CREATE TABLE messages (
  room   TEXT    NOT NULL REFERENCES rooms(id),
  seq    INTEGER NOT NULL,
  id     TEXT    NOT NULL,
  sender TEXT    NOT NULL,
  cid    TEXT,
  text   TEXT    NOT NULL,
  ts     INTEGER NOT NULL,
  PRIMARY KEY (room, seq),
  UNIQUE (room, sender, cid)
);
)sql"},
    {2, "message ids are unique", R"sql(
CREATE UNIQUE INDEX messages_by_id ON messages(id);
)sql"},
    // A room's last seq is read from its newest message (the (room, seq) key, one seek)
    // instead of being stored: an append then writes its message row and nothing else, so a
    // group commit dirties no `rooms` page (12-26% of its WAL pages, docs/bench/log.md).
    // The two were equal (each append wrote both in one transaction). Holds only while no
    // room's newest message is ever deleted: a retention feature must keep it (or store
    // the seq again), or a room's seqs would start over.
    {3, "a room's last seq is its newest message's", R"sql(
ALTER TABLE rooms DROP COLUMN last_seq;
)sql"},
};

constexpr const char* k_version_table =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER NOT NULL PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at INTEGER NOT NULL)";

std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// One step: under the write lock, re-read the version and apply the next migration if any.
// Returns true when a step was applied, false when the schema is current.
result<bool> step_once(db& conn, std::string& why) {
  BOOST_OUTCOME_TRY(conn.exec(k_version_table));
  BOOST_OUTCOME_TRY(auto cur, current_version(conn));
  if (cur > latest_version()) {
    why = "database '" + conn.path() + "' has schema version " + std::to_string(cur) +
          ", newer than this build knows (" + std::to_string(latest_version()) +
          "): upgrade parley";
    return make_error_code(errc::invalid);
  }
  for (const auto& m : migrations()) {
    if (m.version <= cur) continue;
    if (auto r = conn.exec(m.sql); !r) {
      why = "migration " + std::to_string(m.version) + " (" + m.name +
            ") failed: " + conn.error_message();
      return r.error();
    }
    BOOST_OUTCOME_TRY(auto ins, conn.prepare("INSERT INTO schema_version(version, name, "
                                             "applied_at) VALUES (?1, ?2, ?3)"));
    ins.bind(1, std::int64_t{m.version}).bind(2, std::string_view(m.name)).bind(3, now_ms());
    BOOST_OUTCOME_TRY(ins.run());
    spdlog::info("store: applied migration {} ({}) to {}", m.version, m.name, conn.path());
    return true;
  }
  return false;
}

}  // namespace

std::span<const migration> migrations() noexcept { return k_migrations; }

int latest_version() noexcept { return k_migrations[std::size(k_migrations) - 1].version; }

result<int> current_version(db& conn) {
  BOOST_OUTCOME_TRY(auto exists,
                    conn.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                                 "'schema_version'"));
  BOOST_OUTCOME_TRY(auto has, exists.step());
  if (!has) return 0;
  BOOST_OUTCOME_TRY(auto q, conn.prepare("SELECT coalesce(max(version), 0) FROM schema_version"));
  BOOST_OUTCOME_TRY(auto row, q.step());
  if (!row) return 0;
  return static_cast<int>(q.column_int(0));
}

result<void> migrate(db& conn, std::string& why) {
  for (;;) {
    if (auto r = conn.exec("BEGIN IMMEDIATE"); !r) {
      why =
          std::string("cannot lock '") + conn.path() + "' for migrations: " + conn.error_message();
      return r.error();
    }
    auto applied = step_once(conn, why);
    if (!applied) {
      if (why.empty()) why = std::string("migration failed: ") + conn.error_message();
      if (conn.in_transaction()) (void)conn.exec("ROLLBACK");
      return applied.error();
    }
    if (auto r = conn.exec("COMMIT"); !r) {
      why = std::string("cannot commit migration: ") + conn.error_message();
      if (conn.in_transaction()) (void)conn.exec("ROLLBACK");
      return r.error();
    }
    if (!applied.value()) return success();
  }
}

}  // namespace parley::store::sqlite
