#include "store/sqlite_wal_gather.h"

#include <sqlite3.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace parley::store::sqlite {
namespace {

// 120 KiB: a commit of up to 29 pages of 4 KiB leaves in one write, a bigger one in pieces
// of that size. It must stay under 128 KiB: the unix VFS writes at most 0x1ffff bytes per
// call (seekAndWriteFd masks the length with 0x1ffff, so a write of exactly 128 KiB or 1 MiB
// writes nothing and fails with SQLITE_FULL).
constexpr std::size_t k_buffer_bytes = 120 * 1024;
static_assert(k_buffer_bytes <= 0x1ffff);

std::atomic<std::uint64_t> g_writes{0}, g_flushes{0}, g_failures{0};

sqlite3_vfs* g_real = nullptr;  // the unix VFS
sqlite3_vfs g_vfs;              // a copy of it with xOpen (and the size of a file) replaced

// A wrapped file: the real file object lives in the same allocation, after the wrapper.
struct wrapped {
  sqlite3_file base;  // pMethods = one of the tables below
  sqlite3_file* real;
};

struct gather_file;

// The main database file of a connection opened through this VFS. Every method is the real
// file's; the shared-memory lock and barrier calls first settle the connection's WAL (see
// x_db_shm_lock).
struct db_file {
  wrapped w;
  gather_file* wal;  // this connection's WAL while it is open
};

// A WAL file.
struct gather_file {
  wrapped w;
  db_file* db;  // the connection's database file (nullptr: not paired, nothing buffered)
  bool gather;  // false: every write goes straight through
  char* buf;    // bytes [start, start + len) not yet written; nullptr until needed
  std::size_t len;
  sqlite3_int64 start;
  int failed;  // a failed hand-over not yet reported by a read, write or sync
};

constexpr std::size_t k_gather_offset = (sizeof(gather_file) + 15) & ~std::size_t{15};
constexpr std::size_t k_db_offset = (sizeof(db_file) + 15) & ~std::size_t{15};
constexpr std::size_t k_max_offset = k_gather_offset > k_db_offset ? k_gather_offset : k_db_offset;

gather_file* self(sqlite3_file* p) { return reinterpret_cast<gather_file*>(p); }
db_file* db_of(sqlite3_file* p) { return reinterpret_cast<db_file*>(p); }
sqlite3_file* real(sqlite3_file* p) { return reinterpret_cast<wrapped*>(p)->real; }
const sqlite3_io_methods* real_methods(sqlite3_file* p) { return real(p)->pMethods; }

// Hands the buffered bytes to the real file in one write. The buffer is emptied whether or
// not the write succeeded: a failure is reported (now, and kept in `failed` until a read,
// write or sync has reported it), never retried out of order.
int settle(gather_file* f) {
  if (f->len == 0) return SQLITE_OK;
  g_flushes.fetch_add(1, std::memory_order_relaxed);
  int rc = real_methods(&f->w.base)->xWrite(f->w.real, f->buf, static_cast<int>(f->len), f->start);
  f->len = 0;
  if (rc != SQLITE_OK) {
    g_failures.fetch_add(1, std::memory_order_relaxed);
    f->failed = rc;
  }
  return rc;
}

// For the methods whose error SQLite always acts on (read, write, sync): settles and
// reports a failure kept from an earlier hand-over once.
int settle_and_report(gather_file* f) {
  (void)settle(f);
  int rc = f->failed;
  f->failed = SQLITE_OK;
  return rc;
}

// ---- plain forwarding to the real file (the database file's methods, and what the WAL's
// methods do once the buffer is handed over) ----

int fwd_read(sqlite3_file* p, void* out, int n, sqlite3_int64 off) {
  return real_methods(p)->xRead(real(p), out, n, off);
}
int fwd_write(sqlite3_file* p, const void* data, int n, sqlite3_int64 off) {
  return real_methods(p)->xWrite(real(p), data, n, off);
}
int fwd_truncate(sqlite3_file* p, sqlite3_int64 size) {
  return real_methods(p)->xTruncate(real(p), size);
}
int fwd_sync(sqlite3_file* p, int flags) { return real_methods(p)->xSync(real(p), flags); }
int fwd_file_size(sqlite3_file* p, sqlite3_int64* size) {
  return real_methods(p)->xFileSize(real(p), size);
}
int fwd_file_control(sqlite3_file* p, int op, void* arg) {
  return real_methods(p)->xFileControl(real(p), op, arg);
}
int x_lock(sqlite3_file* p, int level) { return real_methods(p)->xLock(real(p), level); }
int x_unlock(sqlite3_file* p, int level) { return real_methods(p)->xUnlock(real(p), level); }
int x_check_reserved_lock(sqlite3_file* p, int* out) {
  return real_methods(p)->xCheckReservedLock(real(p), out);
}
int x_sector_size(sqlite3_file* p) { return real_methods(p)->xSectorSize(real(p)); }
int x_device_characteristics(sqlite3_file* p) {
  return real_methods(p)->xDeviceCharacteristics(real(p));
}
// Optional methods missing from the real file's table (a `nolock` file has no shared
// memory) answer as SQLite's own callers expect of a file without them.
int x_shm_map(sqlite3_file* p, int region, int size, int extend, void volatile** out) {
  if (real_methods(p)->xShmMap == nullptr) return SQLITE_IOERR_SHMMAP;
  return real_methods(p)->xShmMap(real(p), region, size, extend, out);
}
int x_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  if (real_methods(p)->xShmLock == nullptr) return SQLITE_IOERR_SHMLOCK;
  return real_methods(p)->xShmLock(real(p), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* p) {
  if (real_methods(p)->xShmBarrier != nullptr) real_methods(p)->xShmBarrier(real(p));
}
int x_shm_unmap(sqlite3_file* p, int del) {
  if (real_methods(p)->xShmUnmap == nullptr) return SQLITE_OK;
  return real_methods(p)->xShmUnmap(real(p), del);
}
int fwd_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** out) {
  if (real_methods(p)->xFetch == nullptr) {
    *out = nullptr;  // no mapping: SQLite reads instead
    return SQLITE_OK;
  }
  return real_methods(p)->xFetch(real(p), off, n, out);
}
int x_unfetch(sqlite3_file* p, sqlite3_int64 off, void* ptr) {
  if (real_methods(p)->xUnfetch == nullptr) return SQLITE_OK;
  return real_methods(p)->xUnfetch(real(p), off, ptr);
}

// ---- the WAL file ----

int x_close(sqlite3_file* p) {
  auto* f = self(p);
  int rc = settle(f);
  if (f->db != nullptr) f->db->wal = nullptr;
  f->db = nullptr;
  int rc2 = real_methods(p)->xClose(real(p));
  std::free(f->buf);
  f->buf = nullptr;
  return rc != SQLITE_OK ? rc : rc2;
}

int x_read(sqlite3_file* p, void* out, int n, sqlite3_int64 off) {
  if (int rc = settle_and_report(self(p)); rc != SQLITE_OK) return rc;
  return fwd_read(p, out, n, off);
}

int x_write(sqlite3_file* p, const void* data, int n, sqlite3_int64 off) {
  auto* f = self(p);
  g_writes.fetch_add(1, std::memory_order_relaxed);
  auto bytes = static_cast<std::size_t>(n);
  if (f->len > 0 && off == f->start + static_cast<sqlite3_int64>(f->len) &&
      f->len + bytes <= k_buffer_bytes) {
    std::memcpy(f->buf + f->len, data, bytes);
    f->len += bytes;
    return SQLITE_OK;
  }
  if (int rc = settle_and_report(f); rc != SQLITE_OK) return rc;
  if (!f->gather || bytes > k_buffer_bytes) {
    g_flushes.fetch_add(1, std::memory_order_relaxed);
    return fwd_write(p, data, n, off);
  }
  if (f->buf == nullptr) {
    f->buf = static_cast<char*>(std::malloc(k_buffer_bytes));
    if (f->buf == nullptr) {
      g_flushes.fetch_add(1, std::memory_order_relaxed);
      return fwd_write(p, data, n, off);
    }
  }
  std::memcpy(f->buf, data, bytes);
  f->start = off;
  f->len = bytes;
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* p, sqlite3_int64 size) {
  if (int rc = settle(self(p)); rc != SQLITE_OK) return rc;
  return fwd_truncate(p, size);
}

int x_sync(sqlite3_file* p, int flags) {
  if (int rc = settle_and_report(self(p)); rc != SQLITE_OK) return rc;
  return fwd_sync(p, flags);
}

int x_file_size(sqlite3_file* p, sqlite3_int64* size) {
  if (int rc = settle(self(p)); rc != SQLITE_OK) return rc;
  return fwd_file_size(p, size);
}

int x_file_control(sqlite3_file* p, int op, void* arg) {
  if (int rc = settle(self(p)); rc != SQLITE_OK) return rc;
  return fwd_file_control(p, op, arg);
}

int x_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** out) {
  if (int rc = settle(self(p)); rc != SQLITE_OK) return rc;
  return fwd_fetch(p, off, n, out);
}

// ---- the database file ----

int x_db_close(sqlite3_file* p) {
  auto* d = db_of(p);
  if (d->wal != nullptr) d->wal->db = nullptr;  // (SQLite closes the WAL first)
  d->wal = nullptr;
  return real_methods(p)->xClose(real(p));
}
// Every lock change of the wal-index, and the barrier between the two copies of its header,
// first hands the WAL's buffered bytes over. Above all the release of the WAL write lock:
// once it is released another connection may write frames at the same offsets, and bytes
// still buffered here (the frames a rolled-back transaction spilled) must not land on top
// of them later. With synchronous=FULL a commit's frames were written by its sync already,
// so what this writes is never a commit's; a failure stays in `failed` for the WAL's next
// read, write or sync.
int x_db_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  if (auto* wal = db_of(p)->wal; wal != nullptr) (void)settle(wal);
  return x_shm_lock(p, offset, n, flags);
}
void x_db_shm_barrier(sqlite3_file* p) {
  if (auto* wal = db_of(p)->wal; wal != nullptr) (void)settle(wal);
  x_shm_barrier(p);
}

// The method tables, one per version of the real file's table (1 to 3), each listing only
// the methods of its version. Constant-initialised: usable from any static initialiser.
constexpr sqlite3_io_methods make_methods(int version, bool db) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = db ? x_db_close : x_close;
  m.xRead = db ? fwd_read : x_read;
  m.xWrite = db ? fwd_write : x_write;
  m.xTruncate = db ? fwd_truncate : x_truncate;
  m.xSync = db ? fwd_sync : x_sync;
  m.xFileSize = db ? fwd_file_size : x_file_size;
  m.xLock = x_lock;
  m.xUnlock = x_unlock;
  m.xCheckReservedLock = x_check_reserved_lock;
  m.xFileControl = db ? fwd_file_control : x_file_control;
  m.xSectorSize = x_sector_size;
  m.xDeviceCharacteristics = x_device_characteristics;
  if (version >= 2) {
    m.xShmMap = x_shm_map;
    m.xShmLock = db ? x_db_shm_lock : x_shm_lock;
    m.xShmBarrier = db ? x_db_shm_barrier : x_shm_barrier;
    m.xShmUnmap = x_shm_unmap;
  }
  if (version >= 3) {
    m.xFetch = db ? fwd_fetch : x_fetch;
    m.xUnfetch = x_unfetch;
  }
  return m;
}
constexpr sqlite3_io_methods g_wal_methods[3] = {make_methods(1, false), make_methods(2, false),
                                                 make_methods(3, false)};
constexpr sqlite3_io_methods g_db_methods[3] = {make_methods(1, true), make_methods(2, true),
                                                make_methods(3, true)};

bool is_ours(const sqlite3_file* f) {
  return f != nullptr && (f->pMethods == &g_db_methods[0] || f->pMethods == &g_db_methods[1] ||
                          f->pMethods == &g_db_methods[2]);
}

// Opens the real file behind a wrapper of `offset` bytes; on success sets the wrapper's
// method table for the real table's version.
int open_wrapped(sqlite3_filename name, sqlite3_file* p, std::size_t offset, int flags,
                 int* out_flags, const sqlite3_io_methods* tables) {
  auto* w = reinterpret_cast<wrapped*>(p);
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(p) + offset);
  int rc = g_real->xOpen(g_real, name, w->real, flags, out_flags);
  const sqlite3_io_methods* rm = w->real->pMethods;
  if (rc != SQLITE_OK || rm == nullptr || rm->iVersion < 1 || rm->iVersion > 3) {
    if (rc == SQLITE_OK && rm != nullptr) {
      (void)rm->xClose(w->real);
      rc = SQLITE_CANTOPEN;
    }
    p->pMethods = nullptr;  // SQLite does not close a file whose open failed
    return rc;
  }
  p->pMethods = &tables[rm->iVersion - 1];
  return SQLITE_OK;
}

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  if ((flags & SQLITE_OPEN_MAIN_DB) != 0) {
    auto* d = db_of(p);
    std::memset(d, 0, sizeof(db_file));
    return open_wrapped(name, p, k_db_offset, flags, out_flags, g_db_methods);
  }
  if ((flags & SQLITE_OPEN_WAL) == 0) {
    // Journals and temporary files are the real VFS's own objects, in place.
    return g_real->xOpen(g_real, name, p, flags, out_flags);
  }
  auto* f = self(p);
  std::memset(f, 0, sizeof(gather_file));
  if (int rc = open_wrapped(name, p, k_gather_offset, flags, out_flags, g_wal_methods);
      rc != SQLITE_OK)
    return rc;
  // Gather only when the WAL is paired with its database file (whose wal-index calls settle
  // it) and the database file reports SQLITE_IOCAP_POWERSAFE_OVERWRITE (SQLite's WAL takes
  // the flag from there when it opens the WAL): without it SQLite pads a commit to a
  // sector boundary and writes part of the last frame AFTER the sync.
  sqlite3_file* dbf = sqlite3_database_file_object(name);
  if (is_ours(dbf) && db_of(dbf)->wal == nullptr &&
      (dbf->pMethods->xDeviceCharacteristics(dbf) & SQLITE_IOCAP_POWERSAFE_OVERWRITE) != 0) {
    f->db = db_of(dbf);
    f->db->wal = f;
    f->gather = true;
  }
  return SQLITE_OK;
}

// Path operations go to the real VFS with the real VFS as their first argument.
int x_delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int x_access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int x_full_pathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}

}  // namespace

int register_wal_gather_vfs() noexcept {
  static const int rc = [] {
    // The unix VFS by name: its other methods do not depend on the VFS pointer they get.
    g_real = sqlite3_vfs_find("unix");
    if (g_real == nullptr) return SQLITE_ERROR;
    g_vfs = *g_real;
    g_vfs.pNext = nullptr;
    g_vfs.zName = k_wal_gather_vfs;
    g_vfs.szOsFile = static_cast<int>(k_max_offset) + g_real->szOsFile;
    g_vfs.xOpen = x_open;
    g_vfs.xDelete = x_delete;
    g_vfs.xAccess = x_access;
    g_vfs.xFullPathname = x_full_pathname;
    return sqlite3_vfs_register(&g_vfs, 0);
  }();
  return rc;
}

wal_gather_stats wal_gather_counters() noexcept {
  return {g_writes.load(std::memory_order_relaxed), g_flushes.load(std::memory_order_relaxed),
          g_failures.load(std::memory_order_relaxed)};
}

}  // namespace parley::store::sqlite
