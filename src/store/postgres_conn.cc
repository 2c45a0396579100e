#include "store/postgres_conn.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <charconv>

namespace parley::store::pg {
namespace {

// libpq messages end with a newline (and may span lines): keep one readable line.
std::string one_line(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (auto& ch : s)
    if (ch == '\n' || ch == '\t') ch = ' ';
  return s;
}

void quiet_notices(void*, const char*) {}  // "relation already exists, skipping" etc.

struct conninfo_deleter {
  void operator()(PQconninfoOption* o) const noexcept { PQconninfoFree(o); }
};

}  // namespace

errc map_sqlstate(std::string_view s) noexcept {
  if (s == "23505") return errc::conflict;             // unique_violation
  if (s == "23503") return errc::not_found;            // foreign_key_violation
  if (s.starts_with("08")) return errc::unavailable;   // connection exception
  if (s.starts_with("53")) return errc::unavailable;   // insufficient resources
  if (s.starts_with("57P")) return errc::unavailable;  // admin/crash shutdown, cannot connect now
  if (s == "40001" || s == "40P01") return errc::unavailable;  // serialization, deadlock
  if (s == "55P03" || s == "57014") return errc::unavailable;  // lock not available, cancel
  if (s == "25006") return errc::unavailable;                  // read-only transaction (standby)
  return errc::internal;
}

result<std::string> describe_url(const std::string& url, std::string& why) {
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, conninfo_deleter> opts(PQconninfoParse(url.c_str(), &err));
  if (!opts) {
    // libpq's message may quote a piece of the url (a password among them): leave it out.
    if (err) PQfreemem(err);
    why = "store url: not a valid PostgreSQL connection url (postgresql://user@host:port/db)";
    return make_error_code(errc::invalid);
  }
  std::string user, host, port, db;
  for (auto* o = opts.get(); o->keyword; ++o) {
    if (!o->val) continue;
    std::string_view k = o->keyword;
    if (k == "user") user = o->val;
    if (k == "host" || (k == "hostaddr" && host.empty())) host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  std::string out;
  if (!user.empty()) out += user + "@";
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) out += ":" + port;
  if (!db.empty()) out += "/" + db;
  return out;
}

// ---- rows ---------------------------------------------------------------------------------

void rows::deleter::operator()(pg_result* r) const noexcept { PQclear(r); }

int rows::size() const noexcept { return r_ ? PQntuples(r_.get()) : 0; }

std::int64_t rows::affected() const noexcept {
  if (!r_) return 0;
  std::string_view s = PQcmdTuples(r_.get());
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

bool rows::is_null(int row, int col) const noexcept { return PQgetisnull(r_.get(), row, col); }

std::string_view rows::text(int row, int col) const noexcept {
  return {PQgetvalue(r_.get(), row, col),
          static_cast<std::size_t>(PQgetlength(r_.get(), row, col))};
}

std::optional<std::string> rows::opt_str(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return str(row, col);
}

std::int64_t rows::i64(int row, int col) const noexcept {
  auto s = text(row, col);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

// ---- params -------------------------------------------------------------------------------

params& params::add(std::string_view v) {
  v_.emplace_back(std::string(v));
  return *this;
}

params& params::add(std::int64_t v) {
  v_.emplace_back(std::to_string(v));
  return *this;
}

params& params::add(const std::optional<std::string>& v) {
  v_.push_back(v);
  return *this;
}

params& params::add_array(const std::vector<std::string>& v) {
  std::string lit = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) lit += ',';
    lit += '"';
    for (char ch : v[i]) {
      if (ch == '"' || ch == '\\') lit += '\\';
      lit += ch;
    }
    lit += '"';
  }
  lit += '}';
  v_.emplace_back(std::move(lit));
  return *this;
}

params& params::add_array(const std::vector<std::int64_t>& v) {
  std::string lit = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) lit += ',';
    lit += std::to_string(v[i]);
  }
  lit += '}';
  v_.emplace_back(std::move(lit));
  return *this;
}

// ---- conn ---------------------------------------------------------------------------------

namespace {

// What the store's statements rely on, whatever the defaults of the server, the database or
// the role: READ COMMITTED (an append re-reads its room's row once the room's lock is
// granted; under REPEATABLE READ or SERIALIZABLE that wait would end in a serialization
// failure) and a COMMIT that returns once the WAL is flushed (`off` would let a crash of
// the server lose acknowledged messages; every other level flushes locally and is kept).
// The second column is not NULL when synchronous_commit was off.
constexpr const char* k_session_settings =
    "SELECT set_config('default_transaction_isolation', 'read committed', false),"
    " CASE WHEN current_setting('synchronous_commit') = 'off'"
    " THEN set_config('synchronous_commit', 'on', false) END";

std::atomic<bool> g_sync_commit_noted{false};  // said once per process

}  // namespace

conn::~conn() { PQfinish(c_); }

result<std::unique_ptr<conn>> conn::connect(const std::string& url, std::string& why) {
  BOOST_OUTCOME_TRY(auto target, describe_url(url, why));
  // Defaults first: expanded url settings (the last keyword) override them.
  const char* keys[] = {
      "connect_timeout",  "application_name", "keepalives_idle", "keepalives_interval",
      "keepalives_count", "tcp_user_timeout", "dbname",          nullptr};
  const char* vals[] = {"5", "parley", "10", "5", "3", "30000", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, vals, /*expand_dbname=*/1);
  if (!c) {
    why = "cannot connect to PostgreSQL at " + target + ": out of memory";
    return make_error_code(errc::unavailable);
  }
  if (PQstatus(c) != CONNECTION_OK) {
    why = "cannot connect to PostgreSQL at " + target + ": " + one_line(PQerrorMessage(c));
    PQfinish(c);
    return make_error_code(errc::unavailable);
  }
  PQsetNoticeProcessor(c, quiet_notices, nullptr);
  std::unique_ptr<conn> self(new conn(c));
  auto set = self->exec(k_session_settings);
  if (!set) {
    why = "cannot set up a PostgreSQL session at " + target + ": " + self->error_message();
    return make_error_code(errc::unavailable);
  }
  if (!set.value().is_null(0, 1) && !g_sync_commit_noted.exchange(true)) {
    spdlog::warn(
        "store: synchronous_commit is off for this database or role at {}; parley's sessions "
        "set it on (an acknowledged message must survive a crash of the server)",
        target);
  }
  return self;
}

void conn::note_connection_error() {
  error_ = one_line(PQerrorMessage(c_));
  sqlstate_.clear();
}

result<rows> conn::finish(PGresult* r) {
  if (!r) {
    note_connection_error();
    return make_error_code(errc::unavailable);
  }
  rows out(r);
  auto st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    error_.clear();
    sqlstate_.clear();
    return out;
  }
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  sqlstate_ = state ? state : "";
  error_ = one_line(PQresultErrorMessage(r));
  if (PQstatus(c_) != CONNECTION_OK) return make_error_code(errc::unavailable);
  if (sqlstate_.empty()) return make_error_code(errc::internal);
  return make_error_code(map_sqlstate(sqlstate_));
}

result<rows> conn::exec(const char* sql) { return finish(PQexec(c_, sql)); }

result<const std::string*> conn::prepared(const std::string& sql) {
  auto it = prepared_.find(sql);
  if (it == prepared_.end()) {
    std::string name = "p" + std::to_string(prepared_.size() + 1);
    BOOST_OUTCOME_TRY(finish(PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr)));
    it = prepared_.emplace(sql, std::move(name)).first;
  }
  return &it->second;
}

namespace {
std::vector<const char*> pointers(const params& p) {
  const auto& v = p.values();
  std::vector<const char*> ptrs;
  ptrs.reserve(v.size());
  for (const auto& x : v) ptrs.push_back(x ? x->c_str() : nullptr);
  return ptrs;
}
}  // namespace

result<rows> conn::query(const std::string& sql, const params& p) {
  BOOST_OUTCOME_TRY(auto name, prepared(sql));
  auto ptrs = pointers(p);
  return finish(PQexecPrepared(c_, name->c_str(), static_cast<int>(ptrs.size()), ptrs.data(),
                               nullptr, nullptr, 0));
}

result<std::vector<rows>> conn::pipeline(const std::vector<step>& steps, std::size_t& failed) {
  failed = steps.size();
  if (broken_) return make_error_code(errc::unavailable);
  // Prepared before the pipeline (a round trip each, on first use only).
  std::vector<const std::string*> names;
  names.reserve(steps.size());
  for (const auto& s : steps) {
    BOOST_OUTCOME_TRY(auto name, prepared(*s.sql));
    names.push_back(name);
  }
  if (!PQenterPipelineMode(c_)) {
    note_connection_error();
    return make_error_code(errc::unavailable);
  }
  std::size_t sent = 0;
  for (; sent < steps.size(); ++sent) {
    auto ptrs = pointers(steps[sent].p);
    if (!PQsendQueryPrepared(c_, names[sent]->c_str(), static_cast<int>(ptrs.size()), ptrs.data(),
                             nullptr, nullptr, 0))
      break;
  }
  std::vector<rows> out;
  std::error_code error;
  // What was queued is sent with the sync; its results are read even when a send failed, so
  // that the connection ends in a known state (or is known broken).
  bool ok = PQpipelineSync(c_) == 1 && read_pipeline(sent, out, error, failed) &&
            PQexitPipelineMode(c_) == 1;
  if (!ok) {
    if (error_.empty()) note_connection_error();
    broken_ = true;
    failed = steps.size();
    return make_error_code(errc::unavailable);
  }
  if (error) return error;
  if (sent < steps.size()) {  // libpq refused a step (out of memory): not the step's fault
    error_ = "cannot queue a statement: " + one_line(PQerrorMessage(c_));
    broken_ = true;
    return make_error_code(errc::unavailable);
  }
  return out;
}

bool conn::read_pipeline(std::size_t n, std::vector<rows>& out, std::error_code& error,
                         std::size_t& failed) {
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    PGresult* r = PQgetResult(c_);
    if (!r) return false;
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {  // skipped after an earlier error
      PQclear(r);
      out.emplace_back();
    } else {
      auto x = finish(r);
      if (PQstatus(c_) != CONNECTION_OK) return false;
      if (!x) {
        if (!error) {
          error = x.error();
          failed = i;
        }
        out.emplace_back();
      } else {
        out.push_back(std::move(x).value());
      }
    }
    // Each statement's results end with a null result.
    if (PGresult* extra = PQgetResult(c_)) {
      PQclear(extra);
      return false;
    }
  }
  PGresult* sync = PQgetResult(c_);
  bool ok = sync && PQresultStatus(sync) == PGRES_PIPELINE_SYNC;
  if (sync) PQclear(sync);
  return ok && PQstatus(c_) == CONNECTION_OK;
}

bool conn::alive() noexcept {
  if (broken_ || PQstatus(c_) != CONNECTION_OK) return false;
  // Reads what arrived while idle (a FATAL notice, then EOF) without blocking; libpq marks
  // the connection bad when a read returns EOF, which takes a second read after the notice.
  for (int i = 0; i < 2; ++i) {
    if (!PQconsumeInput(c_)) {
      note_connection_error();
      return false;
    }
  }
  // An idle connection has nothing to say: anything pending is the server's last words.
  while (!PQisBusy(c_)) {
    PGresult* r = PQgetResult(c_);
    if (!r) break;
    PQclear(r);
  }
  if (PQstatus(c_) == CONNECTION_OK) return true;
  note_connection_error();
  return false;
}

bool conn::in_transaction() const noexcept {
  auto t = PQtransactionStatus(c_);
  return t == PQTRANS_INTRANS || t == PQTRANS_INERROR || t == PQTRANS_ACTIVE;
}

std::string conn::quote_ident(std::string_view name) const {
  char* q = PQescapeIdentifier(c_, name.data(), name.size());
  if (!q) return "\"\"";
  std::string out = q;
  PQfreemem(q);
  return out;
}

}  // namespace parley::store::pg
