#include "store/postgres_migrations.h"

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>

namespace parley::store::pg {
namespace {

// Identifiers compare as bytes (COLLATE "C"), as on SQLite and in std::sort: ORDER BY id,
// member lists and the sorted room locking agree everywhere.
constexpr migration k_migrations[] = {
    {1, "rooms, members, messages", R"sql(
CREATE TABLE rooms (
  id         text   COLLATE "C" NOT NULL PRIMARY KEY,
  kind       text   NOT NULL CHECK (kind IN ('direct', 'group')),
  name       text   NOT NULL DEFAULT '',
  created_by text   NOT NULL DEFAULT '',
  created_at bigint NOT NULL,
  last_seq   bigint NOT NULL DEFAULT 0
);
CREATE TABLE members (
  room      text   COLLATE "C" NOT NULL REFERENCES rooms(id) ON DELETE CASCADE,
  "user"    text   COLLATE "C" NOT NULL,
  joined_at bigint NOT NULL,
  read_seq  bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (room, "user")
);
CREATE INDEX members_by_user ON members("user", room);
CREATE TABLE messages (
  room   text   COLLATE "C" NOT NULL REFERENCES rooms(id),
  seq    bigint NOT NULL,
  id     text   COLLATE "C" NOT NULL,
  sender text   COLLATE "C" NOT NULL,
  cid    text   COLLATE "C",
  text   text   NOT NULL,
  ts     bigint NOT NULL,
  PRIMARY KEY (room, seq),
  UNIQUE (room, sender, cid),
  UNIQUE (id)
);
)sql"},
    {2, "outbox", R"sql(
CREATE TABLE outbox (
  room        text        COLLATE "C" NOT NULL,
  seq         bigint      NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  lease_until timestamptz,
  PRIMARY KEY (room, seq)
);
CREATE INDEX outbox_by_age ON outbox(created_at);
)sql"},
};

// 64-bit FNV-1a: the advisory lock key of a schema's migrations.
std::int64_t lock_key(std::string_view schema) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : std::string("parley.migrations:") + std::string(schema)) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  return static_cast<std::int64_t>(h);
}

// One step inside an open transaction: lock, create the schema if needed, re-read the
// version and apply the next migration if any. True when a step was applied.
result<bool> step_once(conn& c, const std::string& schema, std::string& why) {
  BOOST_OUTCOME_TRY(
      c.query("SELECT pg_advisory_xact_lock($1::bigint)", params{}.add(lock_key(schema))));
  if (!schema.empty()) {
    BOOST_OUTCOME_TRY(
        auto ns, c.query("SELECT 1 FROM pg_namespace WHERE nspname = $1", params{}.add(schema)));
    if (ns.size() == 0) {
      std::string sql = "CREATE SCHEMA " + c.quote_ident(schema);
      BOOST_OUTCOME_TRY(c.exec(sql.c_str()));
      spdlog::info("store: created schema {}", schema);
    }
  }
  BOOST_OUTCOME_TRY(
      c.exec("CREATE TABLE IF NOT EXISTS schema_version ("
             " version integer NOT NULL PRIMARY KEY,"
             " name text NOT NULL,"
             " applied_at timestamptz NOT NULL DEFAULT now())"));
  BOOST_OUTCOME_TRY(auto v, c.exec("SELECT coalesce(max(version), 0) FROM schema_version"));
  auto cur = static_cast<int>(v.i64(0, 0));
  if (cur > latest_version()) {
    why = "schema '" + schema + "' has version " + std::to_string(cur) +
          ", newer than this build knows (" + std::to_string(latest_version()) +
          "): upgrade parley";
    return make_error_code(errc::invalid);
  }
  for (const auto& m : migrations()) {
    if (m.version <= cur) continue;
    if (auto r = c.exec(m.sql); !r) {
      why = "migration " + std::to_string(m.version) + " (" + m.name +
            ") failed: " + c.error_message();
      return r.error();
    }
    BOOST_OUTCOME_TRY(c.query("INSERT INTO schema_version(version, name) VALUES ($1, $2)",
                              params{}.add(std::int64_t{m.version}).add(m.name)));
    spdlog::info("store: applied migration {} ({}) to schema {}", m.version, m.name, schema);
    return true;
  }
  return false;
}

}  // namespace

std::span<const migration> migrations() noexcept { return k_migrations; }

int latest_version() noexcept { return k_migrations[std::size(k_migrations) - 1].version; }

std::string first_schema(std::string_view sp) {
  std::size_t i = 0;
  while (i < sp.size() && (sp[i] == ' ' || sp[i] == '\t')) ++i;
  std::string name;
  if (i < sp.size() && sp[i] == '"') {
    for (++i; i < sp.size(); ++i) {
      if (sp[i] == '"') {
        if (i + 1 < sp.size() && sp[i + 1] == '"') {
          name += '"';
          ++i;
          continue;
        }
        break;
      }
      name += sp[i];
    }
  } else {
    for (; i < sp.size() && sp[i] != ',' && sp[i] != ' '; ++i)
      name += static_cast<char>(std::tolower(static_cast<unsigned char>(sp[i])));
  }
  if (name == "$user") return {};
  return name;
}

result<std::string> migrate(conn& c, std::string& why) {
  auto sp = c.exec("SHOW search_path");
  if (!sp) {
    why = "cannot read search_path: " + c.error_message();
    return sp.error();
  }
  std::string schema = first_schema(sp.value().text(0, 0));
  for (;;) {
    if (auto r = c.exec("BEGIN"); !r) {
      why = "cannot start a migration transaction: " + c.error_message();
      return r.error();
    }
    auto applied = step_once(c, schema, why);
    if (!applied) {
      if (why.empty()) why = "migration failed: " + c.error_message();
      if (c.in_transaction()) (void)c.exec("ROLLBACK");
      return applied.error();
    }
    if (auto r = c.exec("COMMIT"); !r) {
      why = "cannot commit migration: " + c.error_message();
      if (c.in_transaction()) (void)c.exec("ROLLBACK");
      return r.error();
    }
    if (!applied.value()) break;
  }
  if (schema.empty()) {
    auto cur = c.exec("SELECT current_schema()");
    if (cur && cur.value().size() == 1 && !cur.value().is_null(0, 0))
      schema = cur.value().str(0, 0);
  }
  return schema;
}

}  // namespace parley::store::pg
