#pragma once
// A SQLite VFS that gathers the writes of a WAL file into one system call.
//
// SQLite writes every WAL frame as two pwrite()s (the 24-byte frame header, then the page),
// so a commit of 8 pages is 16 system calls before its fsync. On virtual machines where a
// system call is expensive (measured: 16 small pwrite()s 100 us, one pwrite() of the same
// 33 KB 7 us) that is most of the writer's CPU time per commit (docs/benchmarks.md).
//
// The VFS (`k_wal_gather_vfs`) wraps the default VFS. Database and shared-memory files are
// the default VFS's own objects, untouched. A WAL file keeps the bytes of consecutive writes
// in a buffer and hands them to the real file in ONE write before anything else touches
// the file: a read, a sync, a truncate, a size query, a lock call, a file-control, close,
// or a write that does not continue the buffered run. The file therefore reads and syncs
// exactly as if every write had been made when SQLite made it; only their grouping into
// system calls differs.
//
// Durability: a commit's frames are on disk when SQLite's sync of the WAL returns (the sync
// writes the buffer first), and other connections find frames only through the wal-index,
// which SQLite updates after that sync. This holds only when the connection commits with a
// sync of the WAL, i.e. `PRAGMA synchronous = FULL` or EXTRA: with NORMAL or OFF, SQLite
// would publish frames in the wal-index that are still in this buffer. open_wal_gather()
// callers must set FULL (sqlite_store's writer does, before any write).
//
// A write that fails when the buffer is handed over makes the method that triggered it
// fail (for a commit: the sync, so the commit fails and nothing is published).
//
// Threads: registration is thread-safe (once per process). A file object is used by the
// thread that owns its connection, as every SQLite file.
#include <cstdint>

namespace parley::store::sqlite {

// The VFS name to give sqlite3_open_v2().
inline constexpr const char* k_wal_gather_vfs = "parley-wal-gather";

// Registers the VFS (not as the default) on first call; later calls do nothing. Returns a
// SQLite result code (SQLITE_OK = 0).
int register_wal_gather_vfs() noexcept;

// Counters over every WAL file of the process (tests and diagnostics).
struct wal_gather_stats {
  std::uint64_t writes = 0;    // xWrite calls SQLite made on WAL files
  std::uint64_t flushes = 0;   // writes handed to the real file (system calls, roughly)
  std::uint64_t failures = 0;  // flushes that failed
};
wal_gather_stats wal_gather_counters() noexcept;

}  // namespace parley::store::sqlite
