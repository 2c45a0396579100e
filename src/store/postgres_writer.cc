// The writer thread of postgres_store: group commit of queued appends.
#include <spdlog/spdlog.h>

#include <exception>
#include <iterator>
#include <map>
#include <string_view>
#include <unordered_map>

#include "base/ids.h"
#include "base/metrics.h"
#include "store/postgres_store.h"

namespace parley::store {

using pg::conn;
using pg::params;

namespace {

// seq and the message row (and its outbox row) in one statement; no row when the room does
// not exist or (room, sender, cid) is already stored. The room row is locked already.
const std::string k_append_head =
    "WITH s AS (UPDATE rooms SET last_seq = last_seq + 1 WHERE id = $1::text"
    " AND ($4::text IS NULL OR NOT EXISTS (SELECT 1 FROM messages"
    "  WHERE room = $1::text AND sender = $3::text AND cid = $4::text))"
    " RETURNING last_seq),"
    " m AS (INSERT INTO messages(room, seq, id, sender, cid, text, ts)"
    "  SELECT $1::text, last_seq, $2::text, $3::text, $4::text, $5::text, $6::bigint FROM s"
    "  RETURNING seq)";
const std::string k_append = k_append_head + " SELECT seq FROM m";
const std::string k_append_outbox =
    k_append_head + ", o AS (INSERT INTO outbox(room, seq) SELECT $1::text, seq FROM m)" +
    " SELECT seq FROM m";

const std::string k_lock_rooms =
    "SELECT id FROM rooms WHERE id = ANY($1::text[]) ORDER BY id"
    " FOR UPDATE";

// At most this many attempts at one batch when it fails before COMMIT (a deadlock or
// serialization failure the sorted locking did not prevent, a connection lost mid-batch).
constexpr int k_batch_attempts = 3;

}  // namespace

result<conn*> postgres_store::writer_conn() {
  if (writer_ && !writer_->alive()) {
    spdlog::warn("store: writer connection to {} lost: {}", target_, writer_->error_message());
    writer_.reset();
  }
  if (!writer_) {
    std::string why;
    auto c = conn::connect(url_, why);
    if (!c) {
      spdlog::warn("store: writer: {}", why);
      return make_error_code(errc::unavailable);
    }
    writer_ = std::move(c).value();
    spdlog::info("store: writer reconnected to {}", target_);
  }
  return writer_.get();
}

void postgres_store::commit_batch(const batch_writer::batch& batch,
                                  batch_writer::results& results) {
  std::vector<bool> valid(batch.size(), false);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (auto v = validate_append(batch[i].req); !v)
      results[i] = v.error();
    else
      valid[i] = true;
  }
  auto any_valid = [&] { return std::find(valid.begin(), valid.end(), true) != valid.end(); };
  if (!any_valid()) return;

  bool committed = false;
  int failures = 0;           // runs that failed other than by a refused append
  bool maybe_stored = false;  // such a run may have committed (its answer lost)
  while (failures < k_batch_attempts && any_valid()) {
    if (!writer_conn()) break;  // the server is away: fail now, reconnect next batch
    // What a failed run may have stored (a connection lost with the COMMIT's answer) is
    // answered from the stored rows, recognized by their message ids; only the rest runs
    // again (never stored twice).
    if (maybe_stored && answer_stored(batch, valid, results) && !any_valid()) {
      committed = true;
      break;
    }
    bool commit_sent = false;
    std::optional<std::size_t> refused;
    if (try_batch(batch, valid, results, refused, commit_sent)) {
      committed = true;
      break;
    }
    // One append was refused by the database: it keeps its error and the rest go again,
    // without counting as a failure (each round removes one append, so this ends).
    if (refused) {
      valid[*refused] = false;
      continue;
    }
    maybe_stored = true;
    ++failures;
    spdlog::error("store: group commit of {} appends failed (attempt {}{}): {}", batch.size(),
                  failures, commit_sent ? ", outcome unknown" : "", batch_error_);
  }
  // An append refused as a conflict may be the same message stored before (a lost run, or
  // appended again): answered from its row. Also when every append was refused.
  if (writer_ && writer_->alive()) {
    std::vector<bool> conflicts(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i)
      conflicts[i] = !results[i] && results[i].error() == make_error_code(errc::conflict);
    (void)answer_stored(batch, conflicts, results);  // on failure the conflicts stand
  }
  // Dropped now, not at the next batch: a connection left broken in the middle of a
  // pipeline may still hold the batch's room locks.
  if (writer_ && !writer_->alive()) writer_.reset();
  if (!committed)
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (valid[i]) results[i] = make_error_code(errc::unavailable);
}

result<void> postgres_store::try_batch(const batch_writer::batch& batch,
                                       const std::vector<bool>& valid,
                                       batch_writer::results& results,
                                       std::optional<std::size_t>& refused, bool& commit_sent) {
  conn& c = *writer_;
  auto fail = [&](std::error_code e) -> result<void> {
    batch_error_ = c.error_message();  // before the ROLLBACK clears it
    // A broken connection is dropped instead (which ends its transaction).
    if (c.alive() && c.in_transaction()) (void)c.exec("ROLLBACK");
    return e;
  };

  // The rooms to lock, sorted; the direct ones to create first (created_at: the first
  // append's ts).
  std::vector<std::string> rooms;
  std::map<std::string, std::int64_t> direct;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!valid[i]) continue;
    const auto& req = batch[i].req;
    rooms.push_back(req.room);
    if (ids::is_direct(req.room)) direct.emplace(req.room, req.ts);
  }
  std::sort(rooms.begin(), rooms.end());
  rooms.erase(std::unique(rooms.begin(), rooms.end()), rooms.end());

  // The whole transaction is ONE pipeline (one round trip, where a statement at a time took
  // 4 + N): BEGIN, the direct rooms, the room locks, the appends, COMMIT.
  static const std::string k_begin = "BEGIN";
  static const std::string k_commit = "COMMIT";
  std::vector<conn::step> steps;
  steps.reserve(batch.size() + 4);
  steps.push_back({&k_begin, {}});
  if (!direct.empty()) {
    std::vector<std::string> ids;
    std::vector<std::int64_t> ts;
    for (const auto& [id, t] : direct) {
      ids.push_back(id);
      ts.push_back(t);
    }
    steps.push_back({&k_create_direct_rooms, params{}.add_array(ids).add_array(ts)});
  }
  // Sorted room locking: two batches wait for each other's rooms in one global order.
  steps.push_back({&k_lock_rooms, params{}.add_array(rooms)});
  // No savepoint per append: the append statement answers a repeated cid or an unknown room
  // with no row instead of an error, so an error here is rare (a reused message id, a lost
  // connection). Then the whole transaction is rolled back, that append alone gets the
  // error, and the caller runs the batch again without it.
  std::vector<std::size_t> step_of(batch.size(), 0);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!valid[i]) continue;
    step_of[i] = steps.size();
    steps.push_back({outbox_ ? &k_append_outbox : &k_append, append_params(batch[i].req)});
  }
  steps.push_back({&k_commit, {}});
  commit_sent = true;
  std::size_t failed = 0;
  auto out = c.pipeline(steps, failed);
  if (!out) {
    if (!c.alive()) return fail(make_error_code(errc::unavailable));
    // An append the database refused (its message id stored with other content, bytes it
    // does not accept) keeps that error. A passing failure (deadlock, cancel, a lost
    // connection: unavailable) wherever it struck, or a failed BEGIN, lock or COMMIT,
    // fails the run, which goes again.
    if (out.error() != make_error_code(errc::unavailable)) {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        if (valid[i] && step_of[i] == failed) {
          results[i] = out.error();
          refused = i;
          break;
        }
      }
    }
    return fail(refused ? out.error() : make_error_code(errc::unavailable));
  }
  // Committed. An append that stored nothing was a repeated cid or an unknown room.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!valid[i]) continue;
    const auto& req = batch[i].req;
    const auto& ins = out.value()[step_of[i]];
    if (ins.size() == 1) {
      append_result r;
      r.msg = message{req.room, ins.i64(0, 0), req.id, req.sender, req.cid, req.text, req.ts};
      results[i] = std::move(r);
    } else {
      results[i] = stored_repeat(c, req);
    }
  }
  return success();
}

bool postgres_store::answer_stored(const batch_writer::batch& batch, std::vector<bool>& which,
                                   batch_writer::results& results) {
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < batch.size(); ++i)
    if (which[i]) ids.push_back(batch[i].req.id);
  if (ids.empty()) return true;
  auto q = writer_->query(
      "SELECT id, room, sender, cid, text, seq, ts FROM messages WHERE id = ANY($1::text[])",
      params{}.add_array(ids));
  if (!q) return false;
  const auto& rows = q.value();
  std::unordered_map<std::string_view, int> row_of;
  for (int r = 0; r < rows.size(); ++r) row_of.emplace(rows.text(r, 0), r);
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!which[i]) continue;
    auto it = row_of.find(batch[i].req.id);
    if (it == row_of.end()) continue;
    const auto& req = batch[i].req;
    int r = it->second;
    which[i] = false;
    auto cid = rows.opt_str(r, 3);
    if (rows.text(r, 1) != req.room || rows.text(r, 2) != req.sender || cid != req.cid ||
        rows.text(r, 4) != req.text) {
      results[i] = make_error_code(errc::conflict);  // another message's id
      continue;
    }
    append_result a;  // stored by an earlier run or batch, and nobody was told: newly stored
    a.msg =
        message{req.room, rows.i64(r, 5), req.id, req.sender, req.cid, req.text, rows.i64(r, 6)};
    results[i] = std::move(a);
  }
  return true;
}

params postgres_store::append_params(const append_request& req) {
  return params{}.add(req.room).add(req.id).add(req.sender).add(req.cid).add(req.text).add(req.ts);
}

result<append_result> postgres_store::stored_repeat(conn& c, const append_request& req) {
  // A repeat (earlier in this batch included: committed with it), or no such room.
  if (req.cid) {
    BOOST_OUTCOME_TRY(auto q, c.query("SELECT seq, id, text, ts FROM messages"
                                      " WHERE room = $1 AND sender = $2 AND cid = $3",
                                      params{}.add(req.room).add(req.sender).add(*req.cid)));
    if (q.size() == 1) {
      append_result r;
      // Stored by a run of this batch whose outcome was lost: newly stored, not a repeat.
      r.duplicate = q.text(0, 1) != req.id || q.text(0, 2) != req.text;
      r.msg = message{req.room, q.i64(0, 0), q.str(0, 1), req.sender,
                      req.cid,  q.str(0, 2), q.i64(0, 3)};
      return r;
    }
  }
  return make_error_code(errc::not_found);
}

}  // namespace parley::store
