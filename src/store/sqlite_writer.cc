// The writer thread of sqlite_store: group commit of queued appends.
#include <spdlog/spdlog.h>

#include <exception>
#include <iterator>

#include "base/ids.h"
#include "base/metrics.h"
#include "store/sqlite_store.h"

namespace parley::store {

using sqlite::db;

void sqlite_store::append(append_request req, append_callback cb) {
  appends_.append(std::move(req), std::move(cb));
}

// One transaction for the whole batch; if BEGIN or COMMIT fails, every append of it fails
// with `unavailable` (the batch_writer's default).
void sqlite_store::commit_batch(const batch_writer::batch& batch, batch_writer::results& results) {
  bool committed = false;
  {
    std::lock_guard lk(write_mu_);
    db& c = *writer_;
    if (c.run("BEGIN IMMEDIATE")) {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        results[i] = append_one(batch[i].req);
        if (!c.in_transaction()) break;  // SQLite rolled the whole transaction back
      }
      committed = c.in_transaction() && c.run("COMMIT");
      if (!committed && c.in_transaction()) (void)c.run("ROLLBACK");
    }
    if (!committed) {
      spdlog::error("store: group commit of {} appends failed: {}", batch.size(),
                    c.error_message());
    }
  }
  if (!committed) {
    results.assign(batch.size(), make_error_code(errc::unavailable));
    return;
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
}

result<append_result> sqlite_store::append_one(const append_request& req) {
  BOOST_OUTCOME_TRY(validate_append(req));
  return append_in_batch(req);
}

// One append inside the batch's transaction, without a savepoint. The message row is the
// only write (a room's last seq is its newest message's, see sqlite_migrations.cc): every
// step that can fail on bad input (an unknown room, a reused message id) fails before it
// changed anything, or is that single statement, which SQLite rolls back alone (a repeated
// cid changes nothing).
result<append_result> sqlite_store::append_in_batch(const append_request& req) {
  db& c = *writer_;
  BOOST_OUTCOME_TRY(auto last, last_seq_of(c, req.room));
  if (!last) {
    if (!ids::is_direct(req.room)) return make_error_code(errc::not_found);
    BOOST_OUTCOME_TRY(create_direct(c, req.room, req.ts));
    BOOST_OUTCOME_TRY(last, last_seq_of(c, req.room));
    if (!last) return make_error_code(errc::internal);
  }
  const std::int64_t seq = *last + 1;

  // A repeated cid (earlier in this batch included: same transaction) inserts nothing and
  // answers with the stored row; the index that enforces it does the lookup, no extra probe.
  BOOST_OUTCOME_TRY(auto ins, c.prepare("INSERT INTO messages(room, seq, id, sender, cid, text, ts)"
                                        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                                        " ON CONFLICT(room, sender, cid) DO NOTHING"));
  ins.bind(1, req.room)
      .bind(2, seq)
      .bind(3, req.id)
      .bind(4, req.sender)
      .bind(5, req.cid)
      .bind(6, req.text)
      .bind(7, req.ts);
  if (auto ran = ins.run(); !ran) {
    // A message id stored already (constraint -> conflict, nothing changed): the same
    // message appended again is answered with its row (as PostgreSQL's writer does when it
    // runs a batch again after a lost connection); another message's id is a conflict.
    if (ran.error() != make_error_code(errc::conflict)) return ran.error();
    BOOST_OUTCOME_TRY(auto q, c.prepare("SELECT seq, ts FROM messages WHERE id = ?1 AND room = ?2"
                                        " AND sender = ?3 AND text = ?4 AND cid IS ?5"));
    q.bind(1, req.id).bind(2, req.room).bind(3, req.sender).bind(4, req.text).bind(5, req.cid);
    BOOST_OUTCOME_TRY(auto found, q.step());
    if (!found) return ran.error();
    append_result r;
    r.msg =
        message{req.room, q.column_int(0), req.id, req.sender, req.cid, req.text, q.column_int(1)};
    return r;
  }
  if (c.changes() == 0) {
    BOOST_OUTCOME_TRY(auto q, c.prepare("SELECT seq, id, text, ts FROM messages"
                                        " WHERE room = ?1 AND sender = ?2 AND cid = ?3"));
    q.bind(1, req.room).bind(2, req.sender).bind(3, req.cid);
    BOOST_OUTCOME_TRY(auto found, q.step());
    if (!found) return make_error_code(errc::internal);
    append_result r;
    r.duplicate = q.column_text(1) != req.id || q.column_text(2) != req.text;
    r.msg = message{req.room, q.column_int(0),  q.column_text(1), req.sender,
                    req.cid,  q.column_text(2), q.column_int(3)};
    return r;
  }

  append_result r;
  r.msg = message{req.room, seq, req.id, req.sender, req.cid, req.text, req.ts};
  return r;
}

}  // namespace parley::store
