#pragma once
// postgres_store: the PostgreSQL backend of store.h (libpq).
//
// Url: postgresql://[user[:password]@]host[:port]/dbname[?param=value&...] (or postgres://),
// any libpq connection parameter allowed. The tables live in the first schema of the
// search_path, which the url can set: ?options=-csearch_path%3Dmy_schema. A schema named
// there that does not exist is created at open (tests isolate themselves this way).
//
// Connections: one writer connection owned by the writer thread, for group commits; and a
// pool of `readers` connections (connected on first use) for every other call but ping(),
// which has a connection of its own (so readiness never waits behind client work): reads run
// as single statements or, when they need one snapshot (join, get_room), in one REPEATABLE
// READ transaction; other writes in short READ COMMITTED transactions. A connection found
// broken is dropped and re-established on next use; a read that failed because its pooled
// connection had died in the meantime is retried once on a fresh one. Connection failures
// map to errc::unavailable, so a node keeps running while the database is away and recovers
// by itself when it is back.
//
// Group commit: append() queues; the writer thread takes up to max_batch queued appends (one
// batch per options.commit_interval at most, see commit_queue.h) and runs them in ONE
// transaction, sent as one pipeline (one round trip: libpq pipeline mode): it creates
// missing direct rooms (both member rows), locks the batch's room rows in sorted id order
// (SELECT ... ORDER BY id FOR UPDATE: nodes batching concurrently cannot deadlock), then
// runs each append as ONE statement: seq from UPDATE rooms SET last_seq = last_seq + 1 ...
// RETURNING, the message row and, with options.outbox, its outbox row (a repeated cid or an
// unknown room answer no row, not an error). An append the database refuses (a message id stored
// with other content) rolls the transaction back; it alone gets the error and the batch runs again
// without it. It commits, and only then runs the callbacks in queue order. If anything fails, the
// batch runs again (three runs at most, on a fresh connection when it was lost), also when the
// connection was lost while the commit may have happened: a batch can always run again, because an
// append whose message id is already stored with the same room, sender, cid and text is answered
// with that row as newly stored (the lost run stored it and nobody was told). If the last run
// fails, every append of the batch fails with `unavailable` (a retry with the same cid returns the
// stored row).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store/batch_writer.h"
#include "store/postgres_conn.h"
#include "store/store.h"

namespace parley::store {

class postgres_store final : public store {
 public:
  // Connects, applies migrations (creating the schema if needed) and starts the writer.
  // On error sets `why` (never containing the password): unavailable when the server
  // cannot be reached, invalid for a bad url or a schema newer than this build.
  static result<std::unique_ptr<store>> open(const options& opts, std::string& why);

  ~postgres_store() override;

  // Queued for the writer thread's group commit: one pipelined transaction per batch
  // (batch_writer.h, postgres_writer.cc).
  void append(append_request req, append_callback cb) override;

  // Writes: a pooled connection. ensure_direct_room and set_read are one statement each;
  // the others run in one transaction.
  result<void> ensure_direct_room(const std::string& room_id, std::int64_t now) override;
  // The room row, then every member in one INSERT ... SELECT FROM unnest() (one round trip).
  result<room> create_group(const std::string& room_id, const std::string& name,
                            const std::string& creator, const std::vector<std::string>& members,
                            std::int64_t now) override;
  // The room's kind checked and the member row changed in one transaction.
  result<bool> add_member(const std::string& room_id, const std::string& user,
                          std::int64_t now) override;
  result<bool> remove_member(const std::string& room_id, const std::string& user) override;
  // Moves the marker forward in one UPDATE: safe to run again on a new connection.
  result<std::int64_t> set_read(const std::string& room_id, const std::string& user,
                                std::int64_t seq) override;

  // Reads: a pooled connection, one statement each (get_room: two, in one REPEATABLE READ
  // transaction).
  result<room> get_room(const std::string& room_id) override;
  result<std::vector<std::string>> members(const std::string& room_id) override;
  // One query per 1,000 rooms.
  result<std::unordered_map<std::string, std::vector<std::string>>> members_of(
      const std::vector<std::string>& room_ids) override;
  result<bool> is_member(const std::string& room_id, const std::string& user) override;
  result<std::optional<message>> find_cid(const std::string& room_id, const std::string& sender,
                                          const std::string& cid) override;
  result<std::vector<room_summary>> rooms_of(const std::string& user) override;
  // Pages of messages: one statement each; snapshot_for_join() runs in one REPEATABLE READ transaction,
  // so last_seq, read_seq and its page share a snapshot.
  result<page> history(const std::string& room_id, std::optional<std::int64_t> before,
                       int limit) override;
  result<page> page_after(const std::string& room_id, std::int64_t after, int limit) override;
  result<std::vector<message>> range(const std::string& room_id, std::int64_t first,
                                     std::int64_t last) override;
  // last_seq: the rooms row's counter, which the writer moves with each append.
  result<join_snapshot> snapshot_for_join(const std::string& room_id, const std::string& user,
                             std::optional<std::int64_t> since, int limit) override;

  result<std::vector<message>> outbox_claim(int limit, std::chrono::milliseconds min_age,
                                            std::chrono::milliseconds lease) override;
  result<void> outbox_done(const std::vector<std::pair<std::string, std::int64_t>>& keys) override;
  result<void> ping() override;
  void close() override;

 private:
  // A pool slot checked out for one call; returned on destruction. The connection is null
  // until connected (connect()), and dropped when found broken.
  class lease {
   public:
    lease(postgres_store& s, std::unique_ptr<pg::conn> c) : s_(s), c_(std::move(c)) {}
    lease(const lease&) = delete;
    ~lease();
    // A live connection, (re)connecting if needed; `fresh` says it was just opened.
    result<pg::conn*> connect(bool& fresh);
    void drop() noexcept { c_.reset(); }

   private:
    postgres_store& s_;
    std::unique_ptr<pg::conn> c_;
  };
  enum class txn { none, read, write };

  // Creates missing direct rooms with their member rows (postgres_store.cc).
  static const std::string k_create_direct_rooms;

  postgres_store(std::unique_ptr<pg::conn> writer, const options& opts, std::string target);

  lease acquire();
  // Runs f(conn) on a pooled connection: txn::none as is (reads only), txn::read in one
  // REPEATABLE READ READ ONLY transaction, txn::write in one READ COMMITTED transaction
  // (committed when f succeeds, rolled back otherwise). See the retry rule above.
  template <class F>
  auto run(txn mode, F&& f) -> decltype(f(std::declval<pg::conn&>()));

  // Writer thread (postgres_writer.cc): the batch_writer's commit function. Runs the batch
  // in one pipelined transaction; a run that fails other than by a refused append goes
  // again (k_batch_attempts in all), answering first what the failed run may have stored.
  void commit_batch(const batch_writer::batch& batch, batch_writer::results& results);
  // One attempt at the batch's transaction; fills results[i] for the valid appends.
  // An error means nothing was committed (or, with `commit_sent`, the outcome is unknown);
  // when one append was refused by the database, `refused` says which.
  result<void> try_batch(const batch_writer::batch& batch, const std::vector<bool>& valid,
                         batch_writer::results& results,
                         std::optional<std::size_t>& refused, bool& commit_sent);
  // The appends marked in `which` whose message ids are stored already are answered from
  // the stored rows (the same room, sender, cid and text: newly stored, the run or batch
  // that stored it went unanswered; another message's id: conflict) and unmarked. One
  // query; false when it failed (nothing changed). Before running a failed batch again
  // (`which`: its valid appends), and after a batch for its appends refused as conflicts.
  bool answer_stored(const batch_writer::batch& batch, std::vector<bool>& which,
                     batch_writer::results& results);
  static pg::params append_params(const append_request& req);
  // After the commit, for an append that stored no row: the stored message of its cid
  // (a repeat), else not_found (no such room).
  result<append_result> stored_repeat(pg::conn& c, const append_request& req);
  result<pg::conn*> writer_conn();

  const std::string url_;
  const std::string target_;  // url without secrets, for logs
  const bool outbox_;

  std::unique_ptr<pg::conn> writer_;  // writer thread only (after construction)
  std::string batch_error_;           // writer thread: why the last run failed, for the log

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<pg::conn>> idle_;  // null entries: slots not connected

  std::mutex health_mu_;              // guards health_
  std::unique_ptr<pg::conn> health_;  // ping() only (connected on first use): never pooled

  batch_writer appends_;  // append() -> the writer thread; stopped by close()

  std::mutex close_mu_;  // serializes close()
  std::atomic<bool> closed_{false};
};

}  // namespace parley::store
