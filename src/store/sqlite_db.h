#pragma once
// A thin, exception-free wrapper over one sqlite3 connection: open, exec, a per-connection
// cache of prepared statements, and the mapping of SQLite result codes to store::errc.
//
// Threads: a connection is used by one thread at a time (the caller serializes: the writer
// mutex or a reader-pool lease); connections are opened with SQLITE_OPEN_NOMUTEX.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/store.h"

struct sqlite3;
struct sqlite3_stmt;

namespace parley::store::sqlite {

// unavailable for I/O, locking, full disk, corruption and open errors; conflict for
// constraint violations; internal otherwise.
errc map_code(int sqlite_code) noexcept;

// A cached prepared statement checked out for one use: binds, steps, reads columns, and is
// reset (bindings cleared) when it goes out of scope. Bind errors are reported by step().
class statement {
 public:
  explicit statement(sqlite3_stmt* s) noexcept : s_(s) {}
  statement(statement&& o) noexcept : s_(o.s_), bind_rc_(o.bind_rc_) { o.s_ = nullptr; }
  statement& operator=(statement&&) = delete;
  statement(const statement&) = delete;
  ~statement();

  // Parameters are 1-based, as in SQLite. Text is copied (SQLITE_TRANSIENT).
  statement& bind(int i, std::int64_t v) noexcept;
  statement& bind(int i, std::string_view v) noexcept;
  statement& bind(int i, const std::string& v) noexcept { return bind(i, std::string_view(v)); }
  statement& bind(int i, const char* v) noexcept { return bind(i, std::string_view(v)); }
  statement& bind(int i, const std::optional<std::string>& v) noexcept;

  // true: a row is available; false: done.
  result<bool> step() noexcept;
  // Steps to completion, ignoring rows (for statements run for their effect).
  result<void> run() noexcept;

  std::int64_t column_int(int i) const noexcept;
  std::string column_text(int i) const;
  std::optional<std::string> column_opt_text(int i) const;

 private:
  void note(int rc) noexcept;

  sqlite3_stmt* s_;
  int bind_rc_ = 0;
};

class db {
 public:
  ~db();
  db(const db&) = delete;
  db& operator=(const db&) = delete;

  // Opens PATH read-write (creating it) or read-only, through the VFS named `vfs` (nullptr:
  // the default). On error sets `why`.
  static result<std::unique_ptr<db>> open(const std::string& path, bool read_only, std::string& why,
                                          const char* vfs = nullptr);

  // Runs one or more SQL statements without results (DDL, pragmas, migrations).
  result<void> exec(const char* sql) noexcept;
  // A cached prepared statement for `sql` (prepared on first use).
  result<statement> prepare(std::string_view sql);
  // Shortcut: prepare and run to completion, no parameters.
  result<void> run(std::string_view sql);

  // True while a transaction is open (false after SQLite rolled one back on its own).
  bool in_transaction() const noexcept;
  std::int64_t changes() const noexcept;
  const char* error_message() const noexcept;
  const std::string& path() const noexcept { return path_; }
  sqlite3* handle() const noexcept { return h_; }

 private:
  db(sqlite3* h, std::string path) : h_(h), path_(std::move(path)) {}

  sqlite3* h_;
  std::string path_;
  std::unordered_map<std::string, sqlite3_stmt*> cache_;
};

}  // namespace parley::store::sqlite
