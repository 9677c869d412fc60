// LMDB helpers for the LMDB BlockStore (private to blockstore/; an adapter file like
// lmdb_store.cc): error mapping, stack-built keys, uint64 values, RAII transactions and cursors,
// and releasing the map's pages (see docs/storage.md, "Memory").
#pragma once

#include <lmdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::blockstore {

inline core::ErrorCode code_for(int rc) {
  switch (rc) {
    case MDB_MAP_FULL:
    case ENOSPC:
    case EDQUOT:
      return core::ErrorCode::kStoreFull;
    case EACCES:
    case EPERM:
    case EROFS:
      return core::ErrorCode::kPermissionDenied;
    case MDB_INVALID:
    case MDB_VERSION_MISMATCH:
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INCOMPATIBLE:
      return core::ErrorCode::kCorrupt;
    case MDB_NOTFOUND:
      return core::ErrorCode::kNotFound;
    default:
      return rc > 0 ? core::ErrorCode::kIo : core::ErrorCode::kInternal;
  }
}

inline tl::unexpected<core::Error> fail(int rc, std::string_view what) {
  return core::make_error(code_for(rc), std::string(what) + ": " + mdb_strerror(rc));
}

// A key in blocks/refs/pins: the binary CIDv1 (varint 1, varint codec, 0x12, 0x20, digest),
// built on the stack so the hot paths allocate nothing per block.
struct Key {
  std::array<uint8_t, 48> bytes{};
  size_t size = 0;

  MDB_val val() { return MDB_val{size, bytes.data()}; }
  bool operator==(const MDB_val& other) const {
    return other.mv_size == size && std::memcmp(other.mv_data, bytes.data(), size) == 0;
  }
};

inline Key key_of(const crypto::Cid& cid) {
  Key key;
  auto varint = [&key](uint64_t value) {
    while (value >= 0x80) {
      key.bytes[key.size++] = static_cast<uint8_t>(value | 0x80);
      value >>= 7;
    }
    key.bytes[key.size++] = static_cast<uint8_t>(value);
  };
  varint(1);
  varint(static_cast<uint64_t>(cid.codec()));
  varint(0x12);  // sha2-256
  varint(cid.digest().size());
  std::memcpy(key.bytes.data() + key.size, cid.digest().data(), cid.digest().size());
  key.size += cid.digest().size();
  return key;
}

inline core::Result<Key> key_from(const MDB_val& val) {
  Key key;
  if (val.mv_size > key.bytes.size()) {
    return core::make_error(core::ErrorCode::kCorrupt,
                            "store: malformed key of " + std::to_string(val.mv_size) + " bytes");
  }
  std::memcpy(key.bytes.data(), val.mv_data, val.mv_size);
  key.size = val.mv_size;
  return key;
}

inline core::Result<crypto::Cid> cid_from(const MDB_val& val) {
  auto cid = crypto::Cid::from_bytes(
      core::ByteView(static_cast<const uint8_t*>(val.mv_data), val.mv_size));
  if (!cid) {
    return core::make_error(core::ErrorCode::kCorrupt,
                            "store: malformed key: " + cid.error().message());
  }
  return *cid;
}

inline core::ByteView view_of(const MDB_val& val) {
  return core::ByteView(static_cast<const uint8_t*>(val.mv_data), val.mv_size);
}

inline MDB_val val_of(std::string_view text) {
  return MDB_val{text.size(), const_cast<char*>(text.data())};
}

inline core::Result<uint64_t> u64_from(const MDB_val& val, std::string_view what) {
  if (val.mv_size != 8) {
    return core::make_error(core::ErrorCode::kCorrupt,
                            "store: " + std::string(what) + " value of " +
                                std::to_string(val.mv_size) + " bytes, expected 8");
  }
  const auto* p = static_cast<const uint8_t*>(val.mv_data);
  uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | p[i];
  return value;
}

// Reads a uint64 value; `fallback` when the key is absent.
inline core::Result<uint64_t> get_u64(MDB_txn* txn, MDB_dbi dbi, MDB_val key, uint64_t fallback,
                                      std::string_view what) {
  MDB_val val;
  int rc = mdb_get(txn, dbi, &key, &val);
  if (rc == MDB_NOTFOUND) return fallback;
  if (rc != 0) return fail(rc, "store: cannot read " + std::string(what));
  return u64_from(val, what);
}

inline core::Status put_u64(MDB_txn* txn, MDB_dbi dbi, MDB_val key, uint64_t value,
                            std::string_view what) {
  std::array<uint8_t, 8> bytes;
  for (size_t i = 0; i < 8; ++i) bytes[i] = static_cast<uint8_t>(value >> (8 * i));
  MDB_val val{bytes.size(), bytes.data()};
  int rc = mdb_put(txn, dbi, &key, &val, 0);
  if (rc != 0) return fail(rc, "store: cannot write " + std::string(what));
  return core::ok();
}

// Drops this process's mappings of the data file's pages in [address, address + size), not the
// pages themselves. Whenever LMDB touches a page of its map, the kernel also maps the cached
// pages around it ("fault-around"), so bulk writes and large reads would leave the process
// mapping everything it just wrote or read: reclaimable page cache, but counted as its RSS.
// Safe at any time, also with concurrent readers: the map is a shared file mapping, and a later
// access maps the page again from the page cache.
inline void unmap_file_pages(const void* address, size_t size) {
  if (address == nullptr || size == 0) return;
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(address) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(address) + size + page - 1) & ~(page - 1);
  ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// The start of this process's mapping of `file` at offset 0, from /proc/self/maps; nullptr if
// none is found (then nothing is unmapped: RSS stays higher, nothing else changes). LMDB does
// not export its map address (MDB_envinfo::me_mapaddr is only set with MDB_FIXEDMAP).
inline void* find_file_mapping(const std::filesystem::path& file) {
  std::error_code ec;
  const std::string wanted = std::filesystem::canonical(file, ec).string();
  if (ec) return nullptr;
  std::FILE* maps = std::fopen("/proc/self/maps", "re");
  if (maps == nullptr) return nullptr;
  void* found = nullptr;
  char line[4096];
  while (found == nullptr && std::fgets(line, sizeof(line), maps) != nullptr) {
    unsigned long start = 0, end = 0, offset = 0;
    int path_at = 0;
    if (std::sscanf(line, "%lx-%lx %*s %lx %*s %*s %n", &start, &end, &offset, &path_at) < 3) {
      continue;
    }
    std::string_view path(line + path_at);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.remove_suffix(1);
    if (offset == 0 && path == wanted) found = reinterpret_cast<void*>(start);
  }
  std::fclose(maps);
  return found;
}

// Owns a transaction: aborts it unless committed.
class Txn {
 public:
  Txn() = default;
  explicit Txn(MDB_txn* txn) : txn_(txn) {}
  Txn(Txn&& other) noexcept : txn_(std::exchange(other.txn_, nullptr)) {}
  Txn& operator=(Txn&& other) noexcept {
    if (this != &other) {
      abort();
      txn_ = std::exchange(other.txn_, nullptr);
    }
    return *this;
  }
  ~Txn() { abort(); }

  MDB_txn* get() const { return txn_; }
  void abort() {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  }
  core::Status commit() {
    int rc = mdb_txn_commit(std::exchange(txn_, nullptr));  // frees the txn even on failure
    if (rc != 0) return fail(rc, "store: commit failed");
    return core::ok();
  }

 private:
  MDB_txn* txn_ = nullptr;
};

// A write transaction and the in-process writer lock (LMDB serializes writers across
// processes itself; the mutex keeps threads of this process from queueing inside LMDB).
// Members are destroyed in reverse order: the transaction ends before the lock is released.
struct WriteTxn {
  std::unique_lock<std::mutex> lock;
  Txn txn;
  MDB_txn* get() const { return txn.get(); }
};

// Owns a cursor. Cursors of write transactions are freed by LMDB when the transaction ends, so
// a Cursor must go out of scope before its transaction commits or aborts.
class Cursor {
 public:
  Cursor() = default;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
  }
  core::Status open(MDB_txn* txn, MDB_dbi dbi) {
    int rc = mdb_cursor_open(txn, dbi, &cursor_);
    if (rc != 0) return fail(rc, "store: cannot open a cursor");
    return core::ok();
  }
  // Positions at the first key (no `resume`) or at the first key after `resume`.
  int seek(const std::optional<Key>& resume, MDB_val& key, MDB_val& val) {
    if (!resume) return mdb_cursor_get(cursor_, &key, &val, MDB_FIRST);
    Key start = *resume;
    key = start.val();
    int rc = mdb_cursor_get(cursor_, &key, &val, MDB_SET_RANGE);
    if (rc == 0 && *resume == key) rc = mdb_cursor_get(cursor_, &key, &val, MDB_NEXT);
    return rc;
  }
  int next(MDB_val& key, MDB_val& val) { return mdb_cursor_get(cursor_, &key, &val, MDB_NEXT); }

 private:
  MDB_cursor* cursor_ = nullptr;
};

}  // namespace synapse::blockstore
