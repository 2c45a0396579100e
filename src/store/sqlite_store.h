#pragma once
// sqlite_store: the SQLite backend of store.h.
//
// Connections: one writer connection, used by the writer thread for group commits and, under
// write_mu_, by the other writes (create_group, add/remove_member, set_read,
// ensure_direct_room), each in its own short BEGIN IMMEDIATE transaction; and a pool of
// `readers` read-only connections for every read (a read holding a lease runs in one read
// transaction, so it sees one snapshot), plus one more read-only connection for ping() alone.
// WAL, synchronous=FULL: a COMMIT that returned is durable, so a callback reporting success
// is never lost, even to a power cut.
//
// Group commit: append() queues; the writer thread takes up to max_batch queued appends
// (one batch per options.commit_interval at most, see commit_queue.h), runs them in ONE
// transaction (an append refused for its input changes nothing, see append_in_batch),
// commits, and only then runs the callbacks in queue order. If BEGIN or COMMIT fails, every
// append of the batch fails with `unavailable`.
//
// Checkpoints: the writer connection never checkpoints on its own below a large WAL
// (wal_autocheckpoint = k_wal_cap_pages, 256 MiB: under steady writes the only point at
// which the WAL starts over, see sqlite_store.cc); a checkpointer thread with its own
// connection runs a PASSIVE checkpoint every k_checkpoint_interval when something was
// committed, so that copying WAL pages into the database file (and its fsync) stays off
// the commit path and each hot page is copied once per interval, not once per 1,000 pages.
// Every connection reads through mmap (mmap_size) and the writer keeps a large page cache.
// The writer connection opens through the WAL-gathering VFS (sqlite_wal_gather.h): a
// commit's WAL frames reach the file in one write instead of two per page.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/batch_writer.h"
#include "store/sqlite_db.h"
#include "store/store.h"

namespace parley::store {

class sqlite_store final : public store {
 public:
  // Opens (creating the file and its parent directories), sets the pragmas, applies
  // migrations, opens the readers and starts the writer. On error sets `why`.
  static result<std::unique_ptr<store>> open(const std::string& path, const options& opts,
                                             std::string& why);

  ~sqlite_store() override;

  // Queued for the writer thread's group commit (batch_writer.h).
  void append(append_request req, append_callback cb) override;

  // Writes: the writer connection under write_mu_, one BEGIN IMMEDIATE transaction each
  // (between the writer's group commits).
  result<void> ensure_direct_room(const std::string& room_id, std::int64_t now) override;
  // The room row, then one INSERT per member (prepared statements are cheap in-process).
  result<room> create_group(const std::string& room_id, const std::string& name,
                            const std::string& creator, const std::vector<std::string>& members,
                            std::int64_t now) override;
  result<bool> add_member(const std::string& room_id, const std::string& user,
                          std::int64_t now) override;
  result<bool> remove_member(const std::string& room_id, const std::string& user) override;
  // Clamped to the room's last seq, its newest message's (no counter is stored: migration 3).
  result<std::int64_t> set_read(const std::string& room_id, const std::string& user,
                                std::int64_t seq) override;

  // Reads: a reader connection from the pool (waits for one), one read transaction each.
  result<room> get_room(const std::string& room_id) override;
  result<std::vector<std::string>> members(const std::string& room_id) override;
  result<bool> is_member(const std::string& room_id, const std::string& user) override;
  result<std::optional<message>> find_cid(const std::string& room_id, const std::string& sender,
                                          const std::string& cid) override;
  result<std::vector<room_summary>> rooms_of(const std::string& user) override;
  // Pages of messages: one indexed range of (room, seq); snapshot_for_join() reads last_seq, read_seq
  // and its page in the same read transaction, so they share a snapshot.
  result<page> history(const std::string& room_id, std::optional<std::int64_t> before,
                       int limit) override;
  result<page> page_after(const std::string& room_id, std::int64_t after, int limit) override;
  result<std::vector<message>> range(const std::string& room_id, std::int64_t first,
                                     std::int64_t last) override;
  // last_seq: the newest message's seq, read in the same transaction as the page.
  result<join_snapshot> snapshot_for_join(const std::string& room_id, const std::string& user,
                             std::optional<std::int64_t> since, int limit) override;
  // Embedded mode has no external bus: no outbox.
  result<std::vector<message>> outbox_claim(int, std::chrono::milliseconds,
                                            std::chrono::milliseconds) override {
    return std::vector<message>{};
  }
  result<void> outbox_done(const std::vector<std::pair<std::string, std::int64_t>>&) override {
    return success();
  }
  result<void> ping() override;
  void close() override;

 private:
  // A reader connection checked out of the pool; returned on destruction.
  class lease {
   public:
    lease(sqlite_store& s, std::unique_ptr<sqlite::db> c) : s_(s), c_(std::move(c)) {}
    lease(const lease&) = delete;
    ~lease();
    sqlite::db& operator*() const noexcept { return *c_; }

   private:
    sqlite_store& s_;
    std::unique_ptr<sqlite::db> c_;
  };

  sqlite_store(std::unique_ptr<sqlite::db> writer, std::vector<std::unique_ptr<sqlite::db>> readers,
               std::unique_ptr<sqlite::db> checkpointer, std::unique_ptr<sqlite::db> health,
               const options& opts);

  lease acquire_reader();
  // Runs f(conn) in one read transaction on a reader connection.
  template <class F>
  auto read_txn(F&& f) -> decltype(f(std::declval<sqlite::db&>()));
  // Runs f(conn) in one BEGIN IMMEDIATE transaction on the writer connection (under write_mu_).
  template <class F>
  auto write_txn(F&& f) -> decltype(f(std::declval<sqlite::db&>()));

  // Writer thread (sqlite_writer.cc): the batch_writer's commit function.
  // Checkpointer thread.
  void checkpoint_loop();
  void commit_batch(const batch_writer::batch& batch, batch_writer::results& results);
  result<append_result> append_one(const append_request& req);
  result<append_result> append_in_batch(const append_request& req);

  // The room's last seq (its newest message's, 0 before the first; no row stores it, see
  // migration 3), or nothing when the room does not exist. Any connection, in a transaction.
  static result<std::optional<std::int64_t>> last_seq_of(sqlite::db& conn,
                                                         const std::string& room_id);
  // Inserts a direct room's rows if missing (writer connection, inside a transaction).
  static result<void> create_direct(sqlite::db& conn, const std::string& room_id, std::int64_t now);
  // The room's kind, or not_found.
  static result<room_kind> kind_of(sqlite::db& conn, const std::string& room_id);

  std::mutex write_mu_;  // guards writer_
  std::unique_ptr<sqlite::db> writer_;

  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<sqlite::db>> idle_readers_;

  batch_writer appends_;  // append() -> the writer thread; stopped by close()

  std::mutex close_mu_;  // serializes close()
  std::atomic<bool> closed_{false};

  std::mutex health_mu_;                // guards health_
  std::unique_ptr<sqlite::db> health_;  // ping() only: never waits for a reader

  std::unique_ptr<sqlite::db> checkpointer_;  // checkpoint thread only
  std::atomic<std::uint64_t> commits_{0};     // batches committed (the checkpointer's cue)
  std::mutex ckpt_mu_;
  std::condition_variable ckpt_cv_;
  bool ckpt_stop_ = false;  // under ckpt_mu_
  std::thread checkpoint_thread_;
};

}  // namespace parley::store
