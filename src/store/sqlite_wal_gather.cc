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

sqlite3_vfs* g_real = nullptr;  // the default VFS at registration
sqlite3_vfs g_vfs;              // a copy of it with xOpen (and the size of a file) replaced

// A WAL file: the real file object lives in the same allocation, after this header.
struct gather_file {
  sqlite3_file base;  // pMethods = &g_methods
  sqlite3_file* real;
  char* buf;  // bytes [start, start + len) not yet written; nullptr until needed
  std::size_t len;
  sqlite3_int64 start;
  int failed;  // a failed hand-over not yet reported by a read, write or sync
};

constexpr std::size_t k_real_offset = (sizeof(gather_file) + 15) & ~std::size_t{15};

gather_file* self(sqlite3_file* p) { return reinterpret_cast<gather_file*>(p); }
const sqlite3_io_methods* real_methods(gather_file* f) { return f->real->pMethods; }

// Hands the buffered bytes to the real file in one write. The buffer is emptied whether or
// not the write succeeded: a failure is reported (now, and kept in `failed` until a read,
// write or sync has reported it), never retried out of order.
int settle(gather_file* f) {
  if (f->len == 0) return SQLITE_OK;
  g_flushes.fetch_add(1, std::memory_order_relaxed);
  int rc = real_methods(f)->xWrite(f->real, f->buf, static_cast<int>(f->len), f->start);
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

int x_close(sqlite3_file* p) {
  auto* f = self(p);
  int rc = settle(f);
  int rc2 = real_methods(f)->xClose(f->real);
  std::free(f->buf);
  f->buf = nullptr;
  return rc != SQLITE_OK ? rc : rc2;
}

int x_read(sqlite3_file* p, void* out, int n, sqlite3_int64 off) {
  auto* f = self(p);
  if (int rc = settle_and_report(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xRead(f->real, out, n, off);
}

int x_write(sqlite3_file* p, const void* data, int n, sqlite3_int64 off) {
  auto* f = self(p);
  g_writes.fetch_add(1, std::memory_order_relaxed);
  auto bytes = static_cast<std::size_t>(n);
  if (f->failed == SQLITE_OK && f->len > 0 &&
      off == f->start + static_cast<sqlite3_int64>(f->len) && f->len + bytes <= k_buffer_bytes) {
    std::memcpy(f->buf + f->len, data, bytes);
    f->len += bytes;
    return SQLITE_OK;
  }
  if (int rc = settle_and_report(f); rc != SQLITE_OK) return rc;
  if (bytes > k_buffer_bytes) return real_methods(f)->xWrite(f->real, data, n, off);
  if (f->buf == nullptr) {
    f->buf = static_cast<char*>(std::malloc(k_buffer_bytes));
    if (f->buf == nullptr) return real_methods(f)->xWrite(f->real, data, n, off);
  }
  std::memcpy(f->buf, data, bytes);
  f->start = off;
  f->len = bytes;
  return SQLITE_OK;
}

int x_truncate(sqlite3_file* p, sqlite3_int64 size) {
  auto* f = self(p);
  if (int rc = settle(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xTruncate(f->real, size);
}

int x_sync(sqlite3_file* p, int flags) {
  auto* f = self(p);
  if (int rc = settle_and_report(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xSync(f->real, flags);
}

int x_file_size(sqlite3_file* p, sqlite3_int64* size) {
  auto* f = self(p);
  if (int rc = settle(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileSize(f->real, size);
}

// Locks and device properties do not touch the file's bytes: passed through as they are.
int x_lock(sqlite3_file* p, int level) {
  return real_methods(self(p))->xLock(self(p)->real, level);
}
int x_unlock(sqlite3_file* p, int level) {
  return real_methods(self(p))->xUnlock(self(p)->real, level);
}
int x_check_reserved_lock(sqlite3_file* p, int* out) {
  return real_methods(self(p))->xCheckReservedLock(self(p)->real, out);
}
int x_sector_size(sqlite3_file* p) { return real_methods(self(p))->xSectorSize(self(p)->real); }
int x_device_characteristics(sqlite3_file* p) {
  return real_methods(self(p))->xDeviceCharacteristics(self(p)->real);
}

int x_file_control(sqlite3_file* p, int op, void* arg) {
  auto* f = self(p);
  if (int rc = settle(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFileControl(f->real, op, arg);
}

// SQLite uses neither shared memory nor memory mapping on a WAL file; forwarded for
// completeness (the methods of the real file's version).
int x_shm_map(sqlite3_file* p, int region, int size, int extend, void volatile** out) {
  return real_methods(self(p))->xShmMap(self(p)->real, region, size, extend, out);
}
int x_shm_lock(sqlite3_file* p, int offset, int n, int flags) {
  return real_methods(self(p))->xShmLock(self(p)->real, offset, n, flags);
}
void x_shm_barrier(sqlite3_file* p) { real_methods(self(p))->xShmBarrier(self(p)->real); }
int x_shm_unmap(sqlite3_file* p, int del) {
  return real_methods(self(p))->xShmUnmap(self(p)->real, del);
}
int x_fetch(sqlite3_file* p, sqlite3_int64 off, int n, void** out) {
  auto* f = self(p);
  if (int rc = settle(f); rc != SQLITE_OK) return rc;
  return real_methods(f)->xFetch(f->real, off, n, out);
}
int x_unfetch(sqlite3_file* p, sqlite3_int64 off, void* ptr) {
  return real_methods(self(p))->xUnfetch(self(p)->real, off, ptr);
}

// One method table per version of the real file's table (1 to 3), each listing only the
// methods of its version.
sqlite3_io_methods make_methods(int version) {
  sqlite3_io_methods m{};
  m.iVersion = version;
  m.xClose = x_close;
  m.xRead = x_read;
  m.xWrite = x_write;
  m.xTruncate = x_truncate;
  m.xSync = x_sync;
  m.xFileSize = x_file_size;
  m.xLock = x_lock;
  m.xUnlock = x_unlock;
  m.xCheckReservedLock = x_check_reserved_lock;
  m.xFileControl = x_file_control;
  m.xSectorSize = x_sector_size;
  m.xDeviceCharacteristics = x_device_characteristics;
  if (version >= 2) {
    m.xShmMap = x_shm_map;
    m.xShmLock = x_shm_lock;
    m.xShmBarrier = x_shm_barrier;
    m.xShmUnmap = x_shm_unmap;
  }
  if (version >= 3) {
    m.xFetch = x_fetch;
    m.xUnfetch = x_unfetch;
  }
  return m;
}
const sqlite3_io_methods g_methods[3] = {make_methods(1), make_methods(2), make_methods(3)};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* p, int flags, int* out_flags) {
  if ((flags & SQLITE_OPEN_WAL) == 0) {
    // Anything but a WAL file is the real VFS's own object, in place.
    return g_real->xOpen(g_real, name, p, flags, out_flags);
  }
  auto* f = self(p);
  std::memset(f, 0, sizeof(gather_file));
  f->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(p) + k_real_offset);
  int rc = g_real->xOpen(g_real, name, f->real, flags, out_flags);
  const sqlite3_io_methods* rm = f->real->pMethods;
  if (rc != SQLITE_OK || rm == nullptr || rm->iVersion < 1 || rm->iVersion > 3) {
    if (rc == SQLITE_OK && rm != nullptr) {
      (void)rm->xClose(f->real);
      rc = SQLITE_CANTOPEN;
    }
    p->pMethods = nullptr;  // SQLite does not close a file whose open failed
    return rc;
  }
  p->pMethods = &g_methods[rm->iVersion - 1];
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
    g_real = sqlite3_vfs_find(nullptr);
    if (g_real == nullptr) return SQLITE_ERROR;
    g_vfs = *g_real;
    g_vfs.pNext = nullptr;
    g_vfs.zName = k_wal_gather_vfs;
    g_vfs.szOsFile = static_cast<int>(k_real_offset) + g_real->szOsFile;
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
