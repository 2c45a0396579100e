#pragma once
// A thin, exception-free wrapper over one libpq connection: connect, simple-protocol exec,
// parameterized queries through a per-connection cache of prepared statements, and the
// mapping of SQLSTATEs and connection failures to store::errc.
//
// Threads: a connection is used by one thread at a time (the caller serializes: the writer
// thread owns its connection; the pool hands each other one to a single caller).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/store.h"

struct pg_conn;
struct pg_result;

namespace parley::store::pg {

// unavailable for connection failures, shutdowns, deadlocks, serialization failures and
// exhausted resources; conflict for unique violations; not_found for foreign-key
// violations; internal otherwise.
errc map_sqlstate(std::string_view sqlstate) noexcept;

// "user@host:port/dbname" of a libpq URL, for messages: never the password. Sets `why` and
// returns invalid when libpq cannot parse the url.
result<std::string> describe_url(const std::string& url, std::string& why);

// The rows (or the command status) of one successful statement. Values are text format.
class rows {
 public:
  rows() = default;
  explicit rows(pg_result* r) noexcept : r_(r) {}

  int size() const noexcept;
  // Rows affected by INSERT/UPDATE/DELETE.
  std::int64_t affected() const noexcept;
  bool is_null(int row, int col) const noexcept;
  std::string_view text(int row, int col) const noexcept;
  std::string str(int row, int col) const { return std::string(text(row, col)); }
  std::optional<std::string> opt_str(int row, int col) const;
  // 0 for NULL or non-numeric text.
  std::int64_t i64(int row, int col) const noexcept;

 private:
  struct deleter {
    void operator()(pg_result* r) const noexcept;
  };
  std::unique_ptr<pg_result, deleter> r_;
};

// Text-format parameters of one query ($1, $2, ... in the order added).
class params {
 public:
  params& add(std::string_view v);
  params& add(const std::string& v) { return add(std::string_view(v)); }
  params& add(const char* v) { return add(std::string_view(v)); }
  params& add(std::int64_t v);
  params& add(const std::optional<std::string>& v);
  // A text[] / bigint[] array literal.
  params& add_array(const std::vector<std::string>& v);
  params& add_array(const std::vector<std::int64_t>& v);

  const std::vector<std::optional<std::string>>& values() const noexcept { return v_; }

 private:
  std::vector<std::optional<std::string>> v_;
};

class conn {
 public:
  ~conn();
  conn(const conn&) = delete;
  conn& operator=(const conn&) = delete;

  // Connects (blocking, bounded by connect_timeout, default 5 s; keepalives on). Settings
  // in the url override the defaults, except two the store's guarantees rest on, set for
  // the session whatever the server's or the role's defaults: transactions are READ
  // COMMITTED, and synchronous_commit `off` becomes `on` (said once per process in the
  // log; the other levels are kept). On error sets `why` (no password in it) and returns
  // unavailable (server unreachable, refused login) or invalid (unparsable url).
  static result<std::unique_ptr<conn>> connect(const std::string& url, std::string& why);

  // Runs one or more SQL statements with the simple protocol (no parameters).
  result<rows> exec(const char* sql);
  // Runs `sql` (a prepared statement, prepared on first use on this connection).
  result<rows> query(const std::string& sql, const params& p = {});

  // One statement of a pipeline: prepared like query()'s. `sql` must outlive the call.
  struct step {
    const std::string* sql;
    params p;
  };
  // Sends every step at once and reads their results in order (libpq pipeline mode: one
  // round trip for all of them, where query() takes one each). Returns each step's rows.
  // When a step fails, PostgreSQL skips the steps after it (an open transaction is left
  // aborted: the caller rolls it back): the error is that step's, and `failed` its index;
  // `failed` is steps.size() on success and when the connection failed (unavailable; the
  // connection is then never reused: alive() is false).
  // Blocking mode cannot deadlock here: libpq reads the server's results while it waits to
  // send, and results are small (a few rows per step).
  result<std::vector<rows>> pipeline(const std::vector<step>& steps, std::size_t& failed);

  // False once the connection is known to be broken (or a pipeline failed half-way).
  // Reads what the server sent while the connection was idle, so a server that closed it
  // (restart, pg_terminate_backend) is seen before the next command is sent. Never blocks.
  bool alive() noexcept;
  // True while a transaction block is open (also an aborted one).
  bool in_transaction() const noexcept;

  // The last error's message (one line) and SQLSTATE ("" if none).
  const std::string& error_message() const noexcept { return error_; }
  const std::string& sqlstate() const noexcept { return sqlstate_; }

  // A quoted identifier ("my schema") for DDL built from names.
  std::string quote_ident(std::string_view name) const;

 private:
  explicit conn(pg_conn* c) noexcept : c_(c) {}
  result<rows> finish(pg_result* r);
  void note_connection_error();
  // The name of `sql` prepared on this connection (prepares it on first use).
  result<const std::string*> prepared(const std::string& sql);
  // Reads a pipeline's results; false when the connection is unusable.
  bool read_pipeline(std::size_t n, std::vector<rows>& out, std::error_code& error,
                     std::size_t& failed);

  pg_conn* c_;
  bool broken_ = false;  // a pipeline left the protocol state unknown: never reuse
  std::unordered_map<std::string, std::string> prepared_;  // sql -> statement name
  std::string error_;
  std::string sqlstate_;
};

}  // namespace parley::store::pg
