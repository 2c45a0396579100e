#include "store/sqlite_db.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

namespace parley::store::sqlite {

errc map_code(int sqlite_code) noexcept {
  switch (sqlite_code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
    case SQLITE_PERM:
    case SQLITE_NOLFS:
      return errc::unavailable;
    case SQLITE_CONSTRAINT:
      return errc::conflict;
    default:
      return errc::internal;
  }
}

statement::~statement() {
  if (s_ == nullptr) return;
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

void statement::note(int rc) noexcept {
  if (rc != SQLITE_OK && bind_rc_ == 0) bind_rc_ = rc;
}

statement& statement::bind(int i, std::int64_t v) noexcept {
  note(sqlite3_bind_int64(s_, i, v));
  return *this;
}

statement& statement::bind(int i, std::string_view v) noexcept {
  note(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

statement& statement::bind(int i, const std::optional<std::string>& v) noexcept {
  if (v) return bind(i, std::string_view(*v));
  note(sqlite3_bind_null(s_, i));
  return *this;
}

result<bool> statement::step() noexcept {
  if (bind_rc_ != 0) return make_error_code(map_code(bind_rc_));
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  sqlite3* h = sqlite3_db_handle(s_);
  auto level = (rc & 0xff) == SQLITE_CONSTRAINT ? spdlog::level::debug : spdlog::level::warn;
  spdlog::log(level, "sqlite: {} ({}) in: {}", sqlite3_errmsg(h), rc, sqlite3_sql(s_));
  return make_error_code(map_code(rc));
}

result<void> statement::run() noexcept {
  for (;;) {
    BOOST_OUTCOME_TRY(auto row, step());
    if (!row) return success();
  }
}

std::int64_t statement::column_int(int i) const noexcept { return sqlite3_column_int64(s_, i); }

std::string statement::column_text(int i) const {
  auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, i));
  if (p == nullptr) return {};
  return std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, i)));
}

std::optional<std::string> statement::column_opt_text(int i) const {
  if (sqlite3_column_type(s_, i) == SQLITE_NULL) return std::nullopt;
  return column_text(i);
}

db::~db() {
  for (auto& [sql, s] : cache_) sqlite3_finalize(s);
  sqlite3_close_v2(h_);
}

result<std::unique_ptr<db>> db::open(const std::string& path, bool read_only, std::string& why,
                                     const char* vfs) {
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &h, flags, vfs);
  if (rc != SQLITE_OK) {
    why = "cannot open sqlite database '" + path +
          "': " + (h != nullptr ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    sqlite3_close_v2(h);
    return make_error_code(map_code(rc) == errc::internal ? errc::unavailable : map_code(rc));
  }
  sqlite3_extended_result_codes(h, 1);
  return std::unique_ptr<db>(new db(h, path));
}

result<void> db::exec(const char* sql) noexcept {
  char* err = nullptr;
  int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return success();
  spdlog::warn("sqlite: {} ({}) in: {}", err != nullptr ? err : sqlite3_errstr(rc), rc, sql);
  sqlite3_free(err);
  return make_error_code(map_code(rc));
}

result<statement> db::prepare(std::string_view sql) {
  std::string key(sql);
  auto it = cache_.find(key);
  if (it != cache_.end()) return statement(it->second);
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v3(h_, key.data(), static_cast<int>(key.size()),
                              SQLITE_PREPARE_PERSISTENT, &s, nullptr);
  if (rc != SQLITE_OK) {
    spdlog::error("sqlite: cannot prepare: {} ({}) in: {}", sqlite3_errmsg(h_), rc, key);
    sqlite3_finalize(s);
    return make_error_code(map_code(rc));
  }
  cache_.emplace(std::move(key), s);
  return statement(s);
}

result<void> db::run(std::string_view sql) {
  BOOST_OUTCOME_TRY(auto st, prepare(sql));
  return st.run();
}

bool db::in_transaction() const noexcept { return sqlite3_get_autocommit(h_) == 0; }
std::int64_t db::changes() const noexcept { return sqlite3_changes64(h_); }
const char* db::error_message() const noexcept { return sqlite3_errmsg(h_); }

}  // namespace parley::store::sqlite
