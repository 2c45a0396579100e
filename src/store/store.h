#pragma once
// The store: source of truth for rooms, members, messages, their order (`seq`) and read
// markers. One interface, one implementation per backend (sqlite_store, postgres_store),
// chosen at wiring time by make_store(). The same contract test suite
// (tests/store/store_contract_test.cc) runs against every backend.
//
// Threads: every member function is thread-safe. append() never blocks: it queues the
// request for the writer, which group-commits everything queued in one transaction and
// then runs the callbacks. Every other function BLOCKS on the database: call it from a
// blocking pool, never from a network thread.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace parley::store {

enum class errc {
  unavailable = 1,  // the database cannot be reached or refused the write: nothing was stored
  not_found,        // no such room (or no such member row)
  conflict,         // already exists (create of an existing room id)
  invalid,          // the request breaks a rule of the contract (e.g. dm id with a third user)
  closed,           // the store was closed; nothing was stored
  internal,         // anything else
};
PARLEY_ERRC_CATEGORY(parley::store, errc)

struct message {
  std::string room;
  std::int64_t seq = 0;
  std::string id;
  std::string sender;
  std::optional<std::string> cid;
  std::string text;
  std::int64_t ts = 0;
};

struct append_request {
  std::string room;  // a valid room id; a direct room is created on first use
  std::string sender;
  std::optional<std::string> cid;
  std::string text;
  std::string id;  // new message id (caller-generated); ignored when the cid repeats
  std::int64_t ts = 0;
};

struct append_result {
  message msg;             // the stored row (the original one for a repeated cid)
  bool duplicate = false;  // true when (room, sender, cid) was stored before
};

enum class room_kind { direct, group };

struct room {
  std::string id;
  room_kind kind = room_kind::group;
  std::string name;  // groups: given at creation; direct rooms: empty
  std::string created_by;
  std::int64_t created_at = 0;
  std::int64_t last_seq = 0;
  std::vector<std::string> members;  // filled by get_room(), sorted by user id
};

struct room_summary {
  std::string id;
  std::string name;
  room_kind kind = room_kind::group;
  std::int64_t last_seq = 0;
  std::int64_t read_seq = 0;
};

struct page {
  std::vector<message> messages;  // always oldest first
  bool more = false;              // see history() and page_after()
};

// What a join needs, read in one snapshot.
struct join_snapshot {
  std::int64_t last_seq = 0;
  std::int64_t read_seq = 0;
  page replay;
};

class store {
 public:
  virtual ~store() = default;

  using append_callback = std::function<void(result<append_result>)>;

  // Queues an append. The writer assigns seq = rooms.last_seq + 1 in the inserting
  // transaction, creating a direct room (both member rows, read_seq 0) on first use.
  // Idempotent on (room, sender, cid) when cid is set: a repeat returns the existing row
  // with duplicate = true and stores nothing. The same message again (its id stored with
  // the same room, sender, cid and text: a batch the writer ran again after a lost
  // connection) returns that row with duplicate = false; an id stored with other content
  // is `conflict`. Text and cid must not contain U+0000 (invalid). The caller has checked
  // membership.
  // `cb` runs exactly once, on the writer thread, only after COMMIT returned (the row is
  // durable) or with an error (nothing stored): it must not block; post work elsewhere.
  // Callbacks of one batch run in queue order, so seq order within a room is preserved.
  virtual void append(append_request req, append_callback cb) = 0;

  // Creates the direct room's rows if missing (both members, read_seq 0). Idempotent.
  virtual result<void> ensure_direct_room(const std::string& room_id, std::int64_t now) = 0;

  // Creates a group room with `members` (creator included by the caller, deduplicated by
  // the store). conflict if the id exists.
  virtual result<room> create_group(const std::string& room_id, const std::string& name,
                                    const std::string& creator,
                                    const std::vector<std::string>& members, std::int64_t now) = 0;

  // The room with its members; not_found if it does not exist.
  virtual result<room> get_room(const std::string& room_id) = 0;

  // Members of a room, sorted; not_found if the room does not exist.
  virtual result<std::vector<std::string>> members(const std::string& room_id) = 0;

  // The members of every room of `room_ids` that exists, each list sorted; a room that does
  // not exist is left out. For a node that re-reads all the rooms it serves: the default
  // asks members() room by room, a backend with a round trip per query overrides it to
  // answer many rooms per query. Fails as a whole (e.g. unavailable) or not at all.
  virtual result<std::unordered_map<std::string, std::vector<std::string>>> members_of(
      const std::vector<std::string>& room_ids);

  virtual result<bool> is_member(const std::string& room_id, const std::string& user) = 0;

  // Adds a member (read_seq 0). Returns false if already a member. not_found: no room.
  virtual result<bool> add_member(const std::string& room_id, const std::string& user,
                                  std::int64_t now) = 0;
  // Returns false if the user was not a member. not_found: no room.
  virtual result<bool> remove_member(const std::string& room_id, const std::string& user) = 0;

  // Rooms the user is a member of: every group room, and direct rooms with last_seq > 0.
  // Ordered by id.
  virtual result<std::vector<room_summary>> rooms_of(const std::string& user) = 0;

  // Up to `limit` messages with seq < before (the newest ones when before is empty),
  // returned oldest first; more = older messages remain. not_found: no room.
  virtual result<page> history(const std::string& room_id, std::optional<std::int64_t> before,
                               int limit) = 0;

  // Up to `limit` messages with seq > after, oldest first; more = newer ones remain.
  virtual result<page> page_after(const std::string& room_id, std::int64_t after, int limit) = 0;

  // Messages with first <= seq <= last, oldest first (gap fill). At most `last-first+1`.
  virtual result<std::vector<message>> range(const std::string& room_id, std::int64_t first,
                                             std::int64_t last) = 0;

  // last_seq, the user's read_seq and a replay page in one consistent read:
  // since empty: the newest `limit` messages (more = older ones exist);
  // since = S: messages with seq > S (S clamped to last_seq), at most `limit`, oldest first
  // (more = newer ones remain beyond the page). not_found: no room or user not a member.
  virtual result<join_snapshot> snapshot_for_join(const std::string& room_id, const std::string& user,
                                     std::optional<std::int64_t> since, int limit) = 0;

  // Moves the user's read marker forward to min(seq, last_seq); never backwards.
  // Returns the marker after the call. not_found: no room or not a member.
  virtual result<std::int64_t> set_read(const std::string& room_id, const std::string& user,
                                        std::int64_t seq) = 0;

  // The stored message of (room, sender, cid), or nullopt if there is none.
  virtual result<std::optional<message>> find_cid(const std::string& room_id,
                                                  const std::string& sender,
                                                  const std::string& cid) = 0;

  // Outbox (cluster mode, architecture.md): with options.outbox set, every new message
  // also gets an outbox row written in its own transaction, removed by outbox_done() once
  // the bus has the record. outbox_claim() leases up to `limit` rows older than `min_age`
  // that no unexpired lease holds (FOR UPDATE SKIP LOCKED where the backend has it), for
  // `lease`, and returns their messages, oldest first; rows of a dead node are claimed by
  // the others once their lease runs out. Backends without an outbox (SQLite: embedded mode
  // has no external bus) return an empty list and ignore outbox_done().
  virtual result<std::vector<message>> outbox_claim(int limit, std::chrono::milliseconds min_age,
                                                    std::chrono::milliseconds lease) = 0;
  virtual result<void> outbox_done(
      const std::vector<std::pair<std::string, std::int64_t>>& keys) = 0;

  // Cheap round trip to the database (readiness), on a connection of its own: it never
  // waits for a reader connection held by other calls, however many are running (pings
  // are serialised with each other only).
  virtual result<void> ping() = 0;

  // Stops taking appends (later ones fail with `closed`), commits what is queued, runs
  // their callbacks, and joins the writer. Idempotent. Blocks.
  virtual void close() = 0;
};

// SQLite's default commit interval: at 5,000 sends/s in rooms of 10 it cut parleyd's CPU by
// a third for up to 2 ms more latency under load (docs/bench/log.md).
inline constexpr std::chrono::microseconds k_sqlite_commit_interval{2000};

struct options {
  // "sqlite:PATH", or a libpq URI "postgresql://user@host:port/db" (also "postgres://");
  // `?options=-csearch_path%3Dmy_schema` puts the tables in my_schema (created if missing).
  std::string url;
  int readers = 4;      // reader connections / pool size
  int max_batch = 512;  // appends committed in one transaction at most
  // The group commit starts a transaction at most once per interval (commit_queue.h):
  // under load more appends share each commit; a lone append never waits. 0: no pacing;
  // unset: the backend's default (SQLite: k_sqlite_commit_interval; PostgreSQL: 0, where
  // each transaction's round trip already gathers the appends behind it).
  std::optional<std::chrono::microseconds> commit_interval;
  bool outbox = false;  // write outbox rows (cluster mode)
};

// Opens the backend named by options.url, applies pending migrations, starts the writer.
// Errors (bad url, unreadable file, failed migration) are returned, not thrown.
result<std::unique_ptr<store>> make_store(const options& opts);
// The same, and on error sets `why` to a readable reason (for start-up errors and tools);
// the overload above logs it instead.
result<std::unique_ptr<store>> make_store(const options& opts, std::string& why);

}  // namespace parley::store

PARLEY_ERRC_TRAIT(parley::store::errc)
