#include "store/postgres_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/ids.h"
#include "base/thread_name.h"
#include "store/rules.h"
#include "store/postgres_migrations.h"

namespace parley::store {
namespace {

using pg::conn;
using pg::params;
using pg::rows;

const std::string k_message_columns = "seq, id, sender, cid, text, ts";

// Reads row i of a result selected with k_message_columns (starting at column `at`).
message read_message(const rows& r, int i, const std::string& room, int at = 0) {
  message m;
  m.room = room;
  m.seq = r.i64(i, at);
  m.id = r.str(i, at + 1);
  m.sender = r.str(i, at + 2);
  m.cid = r.opt_str(i, at + 3);
  m.text = r.str(i, at + 4);
  m.ts = r.i64(i, at + 5);
  return m;
}

std::vector<message> read_messages(const rows& r, const std::string& room) {
  std::vector<message> out;
  out.reserve(static_cast<std::size_t>(r.size()));
  for (int i = 0; i < r.size(); ++i) out.push_back(read_message(r, i, room));
  return out;
}

room_kind kind_from(std::string_view k) {
  return k == "direct" ? room_kind::direct : room_kind::group;
}

// not_found unless the room exists.
result<void> room_exists(conn& c, const std::string& room_id) {
  BOOST_OUTCOME_TRY(auto r, c.query("SELECT 1 FROM rooms WHERE id = $1", params{}.add(room_id)));
  if (r.size() == 0) return make_error_code(errc::not_found);
  return success();
}

result<room_kind> kind_of(conn& c, const std::string& room_id) {
  BOOST_OUTCOME_TRY(auto r, c.query("SELECT kind FROM rooms WHERE id = $1", params{}.add(room_id)));
  if (r.size() == 0) return make_error_code(errc::not_found);
  return kind_from(r.text(0, 0));
}

// Newest first, seq < bound, at most n rows.
result<std::vector<message>> newest_before(conn& c, const std::string& room_id, std::int64_t bound,
                                           int n) {
  static const std::string sql = "SELECT " + k_message_columns +
                                 " FROM messages WHERE room = $1 AND seq < $2"
                                 " ORDER BY seq DESC LIMIT $3";
  BOOST_OUTCOME_TRY(auto r, c.query(sql, params{}.add(room_id).add(bound).add(std::int64_t{n})));
  return read_messages(r, room_id);
}

// Oldest first, seq > after, at most n rows.
result<std::vector<message>> oldest_after(conn& c, const std::string& room_id, std::int64_t after,
                                          int n) {
  static const std::string sql = "SELECT " + k_message_columns +
                                 " FROM messages WHERE room = $1 AND seq > $2"
                                 " ORDER BY seq ASC LIMIT $3";
  BOOST_OUTCOME_TRY(auto r, c.query(sql, params{}.add(room_id).add(after).add(std::int64_t{n})));
  return read_messages(r, room_id);
}

// Logs a connection failure at most every few seconds: a database that is away would
// otherwise log once per call.
void warn_unavailable(const std::string& why) {
  static std::atomic<std::int64_t> last{0};
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto prev = last.load();
  if (now - prev >= 5 && last.compare_exchange_strong(prev, now)) spdlog::warn("store: {}", why);
}

}  // namespace

// Creates the direct rooms $1 (text[], sorted) that do not exist yet, created_at from $2
// (bigint[]), with both member rows (one for a note-to-self room). Rows are inserted in id
// order, so concurrent batches wait on each other's new rows in the same order as on locks.
const std::string postgres_store::k_create_direct_rooms =
    "WITH r AS (INSERT INTO rooms(id, kind, name, created_by, created_at, last_seq)"
    " SELECT t.id, 'direct', '', '', t.ts, 0 FROM unnest($1::text[], $2::bigint[]) AS t(id, ts)"
    " ORDER BY t.id ON CONFLICT (id) DO NOTHING RETURNING id, created_at)"
    " INSERT INTO members(room, \"user\", joined_at, read_seq)"
    " SELECT DISTINCT r.id, u.u, r.created_at, 0 FROM r CROSS JOIN LATERAL"
    " unnest(ARRAY[split_part(r.id, ':', 2), split_part(r.id, ':', 3)]) AS u(u)"
    " ON CONFLICT DO NOTHING";

// ---- open / close ----------------------------------------------------------------------

result<std::unique_ptr<store>> postgres_store::open(const options& opts, std::string& why) {
  BOOST_OUTCOME_TRY(auto target, pg::describe_url(opts.url, why));
  BOOST_OUTCOME_TRY(auto c, conn::connect(opts.url, why));
  auto schema = pg::migrate(*c, why);
  if (!schema) {
    why = "PostgreSQL at " + target + ": " + why;
    return schema.error();
  }
  spdlog::info("store: opened PostgreSQL database {} (schema {}, version {}, pool of {})", target,
               schema.value(), pg::latest_version(), std::max(opts.readers, 1));
  return std::unique_ptr<store>(new postgres_store(std::move(c), opts, std::move(target)));
}

postgres_store::postgres_store(std::unique_ptr<conn> writer, const options& opts,
                               std::string target)
    : url_(opts.url),
      target_(std::move(target)),
      outbox_(opts.outbox),
      writer_(std::move(writer)),
      appends_(opts, std::chrono::microseconds{0}) {
  idle_.resize(static_cast<std::size_t>(std::max(opts.readers, 1)));  // connected on first use
  appends_.start([this](const auto& batch, auto& results) { commit_batch(batch, results); });
}

void postgres_store::append(append_request req, append_callback cb) {
  appends_.append(std::move(req), std::move(cb));
}

postgres_store::~postgres_store() { close(); }

void postgres_store::close() {
  std::lock_guard lk(close_mu_);
  closed_.store(true);
  appends_.stop();
}

// ---- pool --------------------------------------------------------------------------------

postgres_store::lease::~lease() {
  {
    std::lock_guard lk(s_.pool_mu_);
    s_.idle_.push_back(std::move(c_));
  }
  s_.pool_cv_.notify_one();
}

result<conn*> postgres_store::lease::connect(bool& fresh) {
  fresh = false;
  if (c_ && !c_->alive()) c_.reset();
  if (!c_) {
    std::string why;
    auto c = conn::connect(s_.url_, why);
    if (!c) {
      warn_unavailable(why);
      return make_error_code(errc::unavailable);
    }
    c_ = std::move(c).value();
    fresh = true;
  }
  return c_.get();
}

postgres_store::lease postgres_store::acquire() {
  std::unique_lock lk(pool_mu_);
  pool_cv_.wait(lk, [&] { return !idle_.empty(); });
  // Prefer a connected slot.
  auto it = std::find_if(idle_.begin(), idle_.end(), [](const auto& c) { return c != nullptr; });
  if (it == idle_.end()) it = idle_.begin();
  auto c = std::move(*it);
  idle_.erase(it);
  return lease(*this, std::move(c));
}

template <class F>
auto postgres_store::run(txn mode, F&& f) -> decltype(f(std::declval<conn&>())) {
  using R = decltype(f(std::declval<conn&>()));
  if (closed_.load()) return make_error_code(errc::closed);
  for (int attempt = 0;; ++attempt) {
    auto l = acquire();
    bool fresh = false;
    BOOST_OUTCOME_TRY(auto* cp, l.connect(fresh));
    conn& c = *cp;
    bool began = true;
    R r = [&]() -> R {
      if (mode != txn::none) {
        auto b =
            c.exec(mode == txn::read ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN");
        if (!b) {
          began = false;
          return b.error();
        }
      }
      R out = f(c);
      if (mode == txn::none) return out;
      if (!out) {
        if (c.in_transaction()) (void)c.exec("ROLLBACK");
        return out;
      }
      if (auto cm = c.exec("COMMIT"); !cm) {
        if (c.in_transaction()) (void)c.exec("ROLLBACK");
        return make_error_code(errc::unavailable);
      }
      return out;
    }();
    if (r || c.alive()) return r;
    // The connection broke. A pooled one may have died while idle (server restart,
    // terminated backend) without our noticing: try once more on a new connection, unless
    // a write may have reached the server.
    warn_unavailable("connection to " + target_ + " lost: " + c.error_message());
    l.drop();
    bool retry = attempt == 0 && !fresh && (mode != txn::write || !began);
    if (!retry) return make_error_code(errc::unavailable);
  }
}

// ---- writes other than append --------------------------------------------------------------

result<void> postgres_store::ensure_direct_room(const std::string& room_id, std::int64_t now) {
  if (!ids::valid_direct_room(room_id)) return make_error_code(errc::invalid);
  // One idempotent statement: safe to repeat on a new connection.
  return run(txn::none, [&](conn& c) -> result<void> {
    BOOST_OUTCOME_TRY(
        c.query(k_create_direct_rooms, params{}
                                           .add_array(std::vector<std::string>{room_id})
                                           .add_array(std::vector<std::int64_t>{now})));
    return success();
  });
}

result<room> postgres_store::create_group(const std::string& room_id, const std::string& name,
                                          const std::string& creator,
                                          const std::vector<std::string>& members,
                                          std::int64_t now) {
  BOOST_OUTCOME_TRY(auto users, new_group_members(room_id, name, creator, members));
  return run(txn::write, [&](conn& c) -> result<room> {
    // A repeated id: unique violation -> conflict.
    BOOST_OUTCOME_TRY(
        c.query("INSERT INTO rooms(id, kind, name, created_by, created_at,"
                " last_seq) VALUES ($1, 'group', $2, $3, $4, 0)",
                params{}.add(room_id).add(name).add(creator).add(now)));
    BOOST_OUTCOME_TRY(
        c.query("INSERT INTO members(room, \"user\", joined_at, read_seq)"
                " SELECT $1, u, $3, 0 FROM unnest($2::text[]) AS u",
                params{}.add(room_id).add_array(users).add(now)));
    return new_group_room(room_id, name, creator, now, users);
  });
}

result<bool> postgres_store::add_member(const std::string& room_id, const std::string& user,
                                        std::int64_t now) {
  if (!ids::valid_user(user)) return make_error_code(errc::invalid);
  return run(txn::write, [&](conn& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto kind, kind_of(c, room_id));
    if (kind == room_kind::direct) return make_error_code(errc::invalid);
    BOOST_OUTCOME_TRY(auto r, c.query("INSERT INTO members(room, \"user\", joined_at, read_seq)"
                                      " VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING",
                                      params{}.add(room_id).add(user).add(now)));
    return r.affected() == 1;
  });
}

result<bool> postgres_store::remove_member(const std::string& room_id, const std::string& user) {
  return run(txn::write, [&](conn& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto kind, kind_of(c, room_id));
    if (kind == room_kind::direct) return make_error_code(errc::invalid);
    BOOST_OUTCOME_TRY(auto r, c.query("DELETE FROM members WHERE room = $1 AND \"user\" = $2",
                                      params{}.add(room_id).add(user)));
    return r.affected() == 1;
  });
}

result<std::int64_t> postgres_store::set_read(const std::string& room_id, const std::string& user,
                                              std::int64_t seq) {
  // Two single statements: moving a marker forward to a value is idempotent, so the call is
  // safe to repeat on a new connection. Only a marker that moves is written.
  return run(txn::none, [&](conn& c) -> result<std::int64_t> {
    BOOST_OUTCOME_TRY(
        auto up, c.query("UPDATE members m SET read_seq = LEAST($3::bigint, r.last_seq)"
                         " FROM rooms r WHERE r.id = m.room AND m.room = $1 AND m.\"user\" = $2"
                         " AND m.read_seq < LEAST($3::bigint, r.last_seq) RETURNING m.read_seq",
                         params{}.add(room_id).add(user).add(seq)));
    if (up.size() == 1) return up.i64(0, 0);
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT read_seq FROM members WHERE room = $1"
                                      " AND \"user\" = $2",
                                      params{}.add(room_id).add(user)));
    if (q.size() == 0) return make_error_code(errc::not_found);
    return q.i64(0, 0);
  });
}

// ---- reads -----------------------------------------------------------------------------------

result<room> postgres_store::get_room(const std::string& room_id) {
  return run(txn::read, [&](conn& c) -> result<room> {
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT kind, name, created_by, created_at, last_seq"
                                      " FROM rooms WHERE id = $1",
                                      params{}.add(room_id)));
    if (q.size() == 0) return make_error_code(errc::not_found);
    room r;
    r.id = room_id;
    r.kind = kind_from(q.text(0, 0));
    r.name = q.str(0, 1);
    r.created_by = q.str(0, 2);
    r.created_at = q.i64(0, 3);
    r.last_seq = q.i64(0, 4);
    BOOST_OUTCOME_TRY(auto m, c.query("SELECT \"user\" FROM members WHERE room = $1"
                                      " ORDER BY \"user\"",
                                      params{}.add(room_id)));
    for (int i = 0; i < m.size(); ++i) r.members.push_back(m.str(i, 0));
    return r;
  });
}

result<std::vector<std::string>> postgres_store::members(const std::string& room_id) {
  return run(txn::none, [&](conn& c) -> result<std::vector<std::string>> {
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT m.\"user\" FROM rooms r LEFT JOIN members m"
                                      " ON m.room = r.id WHERE r.id = $1 ORDER BY m.\"user\"",
                                      params{}.add(room_id)));
    if (q.size() == 0) return make_error_code(errc::not_found);
    std::vector<std::string> out;
    for (int i = 0; i < q.size(); ++i)
      if (!q.is_null(i, 0)) out.push_back(q.str(i, 0));
    return out;
  });
}

result<std::unordered_map<std::string, std::vector<std::string>>> postgres_store::members_of(
    const std::vector<std::string>& room_ids) {
  // Rooms per query: one round trip for a node's usual set, a bounded parameter for any.
  constexpr std::size_t k_chunk = 1000;
  // Each room once: a room asked for twice must not have its members listed twice.
  std::vector<std::string> ids(room_ids);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::unordered_map<std::string, std::vector<std::string>> out;
  out.reserve(ids.size());
  for (std::size_t at = 0; at < ids.size(); at += k_chunk) {
    std::vector<std::string> chunk(
        ids.begin() + static_cast<std::ptrdiff_t>(at),
        ids.begin() + static_cast<std::ptrdiff_t>(std::min(ids.size(), at + k_chunk)));
    BOOST_OUTCOME_TRY(run(txn::none, [&](conn& c) -> result<void> {
      // A room with no member row still appears (LEFT JOIN, a null user): it exists.
      BOOST_OUTCOME_TRY(auto q, c.query("SELECT r.id, m.\"user\" FROM rooms r LEFT JOIN members m"
                                        " ON m.room = r.id WHERE r.id = ANY($1::text[])"
                                        " ORDER BY r.id, m.\"user\"",
                                        params{}.add_array(chunk)));
      for (int i = 0; i < q.size(); ++i) {
        auto& list = out[q.str(i, 0)];
        if (!q.is_null(i, 1)) list.push_back(q.str(i, 1));
      }
      return success();
    }));
  }
  return out;
}

result<bool> postgres_store::is_member(const std::string& room_id, const std::string& user) {
  if (closed_.load()) return make_error_code(errc::closed);
  if (auto direct = direct_membership(room_id, user)) return *direct;
  return run(txn::none, [&](conn& c) -> result<bool> {
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT 1 FROM members WHERE room = $1 AND \"user\" = $2",
                                      params{}.add(room_id).add(user)));
    return q.size() > 0;
  });
}

result<std::optional<message>> postgres_store::find_cid(const std::string& room_id,
                                                        const std::string& sender,
                                                        const std::string& cid) {
  return run(txn::none, [&](conn& c) -> result<std::optional<message>> {
    static const std::string sql = "SELECT " + k_message_columns +
                                   " FROM messages WHERE room = $1 AND sender = $2 AND cid = $3";
    BOOST_OUTCOME_TRY(auto q, c.query(sql, params{}.add(room_id).add(sender).add(cid)));
    if (q.size() == 0) return std::optional<message>{};
    return std::optional<message>{read_message(q, 0, room_id)};
  });
}

result<std::vector<room_summary>> postgres_store::rooms_of(const std::string& user) {
  return run(txn::none, [&](conn& c) -> result<std::vector<room_summary>> {
    BOOST_OUTCOME_TRY(auto q,
                      c.query("SELECT r.id, r.name, r.kind, r.last_seq, m.read_seq"
                              " FROM members m JOIN rooms r ON r.id = m.room"
                              " WHERE m.\"user\" = $1 AND (r.kind = 'group' OR r.last_seq > 0)"
                              " ORDER BY r.id",
                              params{}.add(user)));
    std::vector<room_summary> out;
    for (int i = 0; i < q.size(); ++i) {
      room_summary s;
      s.id = q.str(i, 0);
      s.name = q.str(i, 1);
      s.kind = kind_from(q.text(i, 2));
      s.last_seq = q.i64(i, 3);
      s.read_seq = q.i64(i, 4);
      out.push_back(std::move(s));
    }
    return out;
  });
}

result<page> postgres_store::history(const std::string& room_id, std::optional<std::int64_t> before,
                                     int limit) {
  limit = clamp_limit(limit);
  return run(txn::none, [&](conn& c) -> result<page> {
    BOOST_OUTCOME_TRY(room_exists(c, room_id));
    BOOST_OUTCOME_TRY(auto rows, newest_before(c, room_id, history_bound(before), limit + 1));
    return finish_page_desc(std::move(rows), limit);
  });
}

result<page> postgres_store::page_after(const std::string& room_id, std::int64_t after, int limit) {
  limit = clamp_limit(limit);
  return run(txn::none, [&](conn& c) -> result<page> {
    BOOST_OUTCOME_TRY(room_exists(c, room_id));
    BOOST_OUTCOME_TRY(auto rows, oldest_after(c, room_id, after, limit + 1));
    return finish_page_asc(std::move(rows), limit);
  });
}

result<std::vector<message>> postgres_store::range(const std::string& room_id, std::int64_t first,
                                                   std::int64_t last) {
  first = clamp_range_first(first);
  return run(txn::none, [&](conn& c) -> result<std::vector<message>> {
    BOOST_OUTCOME_TRY(room_exists(c, room_id));
    if (last < first) return std::vector<message>{};
    static const std::string sql = "SELECT " + k_message_columns +
                                   " FROM messages WHERE room = $1 AND seq BETWEEN $2 AND $3"
                                   " ORDER BY seq ASC";
    BOOST_OUTCOME_TRY(auto q, c.query(sql, params{}.add(room_id).add(first).add(last)));
    return read_messages(q, room_id);
  });
}

result<join_snapshot> postgres_store::snapshot_for_join(const std::string& room_id, const std::string& user,
                                           std::optional<std::int64_t> since, int limit) {
  limit = clamp_limit(limit);
  // One REPEATABLE READ transaction: last_seq, read_seq and the page share a snapshot.
  return run(txn::read, [&](conn& c) -> result<join_snapshot> {
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT r.last_seq, m.read_seq FROM rooms r"
                                      " JOIN members m ON m.room = r.id AND m.\"user\" = $2"
                                      " WHERE r.id = $1",
                                      params{}.add(room_id).add(user)));
    if (q.size() == 0) return make_error_code(errc::not_found);
    return make_join_snapshot(
        q.i64(0, 0), q.i64(0, 1), since, limit,
        [&](std::int64_t bound, int n) { return newest_before(c, room_id, bound, n); },
        [&](std::int64_t after, int n) { return oldest_after(c, room_id, after, n); });
  });
}

// ---- outbox --------------------------------------------------------------------------------

result<std::vector<message>> postgres_store::outbox_claim(int limit,
                                                          std::chrono::milliseconds min_age,
                                                          std::chrono::milliseconds lease) {
  limit = clamp_limit(limit);
  if (limit == 0) return std::vector<message>{};
  // One statement: lease rows no unexpired lease holds, skipping rows another claimer has
  // locked right now (after the lock, the lease condition is rechecked on the newest row
  // version, so two claimers never lease the same row at once), then read their messages.
  return run(txn::none, [&](conn& c) -> result<std::vector<message>> {
    BOOST_OUTCOME_TRY(
        auto q,
        c.query("WITH claimed AS ("
                " UPDATE outbox SET lease_until = now() + $3::bigint * interval '1 millisecond'"
                " WHERE (room, seq) IN (SELECT room, seq FROM outbox"
                "  WHERE created_at < now() - $2::bigint * interval '1 millisecond'"
                "  AND (lease_until IS NULL OR lease_until < now())"
                "  ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
                " RETURNING room, seq, created_at)"
                " SELECT m.room, m.seq, m.id, m.sender, m.cid, m.text, m.ts FROM claimed o"
                " JOIN messages m ON m.room = o.room AND m.seq = o.seq"
                " ORDER BY o.created_at, m.room, m.seq",
                params{}
                    .add(std::int64_t{limit})
                    .add(static_cast<std::int64_t>(min_age.count()))
                    .add(static_cast<std::int64_t>(lease.count()))));
    std::vector<message> out;
    out.reserve(static_cast<std::size_t>(q.size()));
    for (int i = 0; i < q.size(); ++i) out.push_back(read_message(q, i, q.str(i, 0), 1));
    return out;
  });
}

result<void> postgres_store::outbox_done(
    const std::vector<std::pair<std::string, std::int64_t>>& keys) {
  if (keys.empty()) return success();
  std::vector<std::string> rooms;
  std::vector<std::int64_t> seqs;
  for (const auto& [room, seq] : keys) {
    rooms.push_back(room);
    seqs.push_back(seq);
  }
  return run(txn::none, [&](conn& c) -> result<void> {
    BOOST_OUTCOME_TRY(
        c.query("DELETE FROM outbox WHERE (room, seq) IN"
                " (SELECT * FROM unnest($1::text[], $2::bigint[]))",
                params{}.add_array(rooms).add_array(seqs)));
    return success();
  });
}

result<void> postgres_store::ping() {
  if (closed_.load()) return make_error_code(errc::closed);
  std::lock_guard lk(health_mu_);
  // A connection that died while idle is seen by alive(); one that dies during the query is
  // tried once more on a new connection, as run() does.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (health_ && !health_->alive()) health_.reset();
    bool fresh = !health_;
    if (fresh) {
      std::string why;
      auto c = conn::connect(url_, why);
      if (!c) {
        warn_unavailable(why);
        return make_error_code(errc::unavailable);
      }
      health_ = std::move(c).value();
    }
    if (health_->exec("SELECT 1")) return success();
    if (health_->alive()) return make_error_code(errc::unavailable);
    warn_unavailable("connection to " + target_ + " lost: " + health_->error_message());
    health_.reset();
    if (fresh) break;
  }
  return make_error_code(errc::unavailable);
}

}  // namespace parley::store
