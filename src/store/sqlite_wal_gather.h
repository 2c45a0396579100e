#pragma once
// A SQLite VFS that gathers the writes of a WAL file into one system call.
//
// SQLite writes every WAL frame as two pwrite()s (the 24-byte frame header, then the page),
// so a commit of 8 pages is 16 system calls before its fsync. On virtual machines where a
// system call is expensive (measured: 16 small pwrite()s 100 us, one pwrite() of the same
// 33 KB 7 us) that is most of the writer's CPU time per commit (docs/benchmarks.md).
//
// The VFS (`k_wal_gather_vfs`) wraps the unix VFS. A connection's database file is the real
// file behind a wrapper that forwards every method; journals and temporary files are the
// real VFS's own objects. A WAL file keeps the bytes of consecutive writes in a buffer and
// hands them to the real file in ONE write before anything touches the file's bytes: a
// read, a sync, a truncate, a size query, a file-control, close, or a write that does not
// continue the buffered run; and before every lock change of the wal-index and the barrier
// between the two copies of its header (the database file's xShmLock and xShmBarrier), so
// that nothing buffered outlives the WAL write lock. The file therefore reads and syncs
// exactly as if every write had been made when SQLite made it; only their grouping into
// system calls differs.
//
// Durability: a commit's frames are on disk when SQLite's sync of the WAL returns (the sync
// writes the buffer first), and other connections find frames only through the wal-index,
// which SQLite updates after that sync. A commit syncs the WAL only with
// `PRAGMA synchronous = FULL` or EXTRA: a connection opened through this VFS must set one
// of them before it writes (sqlite_store's writer does, and checks it). Without
// SQLITE_IOCAP_POWERSAFE_OVERWRITE (e.g. a `psow=0` URI) SQLite writes part of a commit's
// padding after the sync, so such a WAL is not gathered: its writes go straight through.
//
// A write that fails when the buffer is handed over makes the read, write or sync that
// comes next fail (for a commit: the sync, so the commit fails and nothing is published).
//
// Visible difference: SQLITE_FCNTL_FILE_POINTER on such a connection returns the wrapper
// (its methods are this VFS's, not the unix VFS's); nothing in parley uses it.
//
// Threads: registration is thread-safe (once per process). A file object is used under its
// connection's serialisation, as every SQLite file.
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
