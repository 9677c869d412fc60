// The LMDB BlockStore. Layout, counters and the crash-safety argument: docs/storage.md.
#include "synapse/blockstore/lmdb_store.h"

#include <lmdb.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <utility>

#include "block_limits.h"
#include "dag_walk.h"
#include "lmdb_util.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/core/units.h"

namespace synapse::blockstore {

namespace {

using core::ErrorCode;
using core::make_error;
using crypto::Cid;

constexpr uint64_t kLayoutVersion = 1;
// Only address space: without MDB_WRITEMAP the file grows with what is written, not with this.
constexpr size_t kMapSize = size_t{1} << 40;
constexpr unsigned kMaxDbs = 8;
constexpr unsigned kMaxReaders = 512;
// A write transaction of at least this many bytes lets go of the map when it commits; smaller
// ones do every kSmallCommitsPerRelease commits.
constexpr uint64_t kLargeCommitBytes = 4 << 20;
constexpr uint32_t kSmallCommitsPerRelease = 256;
// gc deletes at most this many blocks (and looks at most at kGcScanBatch) per write transaction.
constexpr size_t kGcBatch = 10000;
constexpr size_t kGcScanBatch = 100000;
// verify hashes at most this many bytes per read transaction, so that it does not hold one
// snapshot (and with it every page freed meanwhile) for the whole pass.
constexpr uint64_t kVerifyChunkBytes = uint64_t{256} << 20;

// Meta keys; every value is a little-endian uint64.
constexpr std::string_view kMetaVersion = "layout-version";
constexpr std::string_view kMetaBlocks = "block-count";
constexpr std::string_view kMetaBytes = "used-bytes";
constexpr std::string_view kMetaCorrupt = "corrupt-removed";

tl::unexpected<core::Error> not_found(const Cid& cid) {
  return make_error(ErrorCode::kNotFound, "block " + cid.to_string() + " not found");
}

tl::unexpected<core::Error> corrupt_error(const Cid& cid) {
  return make_error(ErrorCode::kCorrupt,
                    "block " + cid.to_string() + " failed verification and was removed");
}

// Reading blocks of at least this size unmaps their pages afterwards (see unmap_file_pages).
constexpr size_t kUnmapAfterReading = 64 * 1024;

bool fits(uint64_t used, uint64_t adding, uint64_t capacity) {
  return adding <= capacity && used <= capacity - adding;
}

struct Meta {
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t corrupt_removed = 0;
};

enum class Recheck { kRemoved, kAbsent, kValid };

class LmdbStore final : public BlockStore {
 public:
  LmdbStore(MDB_env* env, std::filesystem::path folder, uint64_t capacity)
      : env_(env),
        map_address_(find_file_mapping(folder / "data.mdb")),
        folder_(std::move(folder)),
        capacity_(capacity) {}
  ~LmdbStore() override { mdb_env_close(env_); }

  // Opens the databases and checks (or, in a new store, records) the layout version.
  core::Status init() {
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    const std::pair<const char*, MDB_dbi*> dbs[] = {
        {"blocks", &blocks_}, {"refs", &refs_}, {"pins", &pins_}, {"meta", &meta_}};
    for (const auto& [name, dbi] : dbs) {
      int rc = mdb_dbi_open(w.get(), name, MDB_CREATE, dbi);
      if (rc != 0) {
        return fail(rc, "cannot open store in " + folder_.string() + ": database " + name);
      }
    }
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t version,
                             get_u64(w.get(), meta_, val_of(kMetaVersion), 0, "layout version"));
    if (version == 0) {
      MDB_stat stat;
      int rc = mdb_stat(w.get(), blocks_, &stat);
      if (rc != 0) return fail(rc, "cannot open store in " + folder_.string());
      if (stat.ms_entries != 0) {
        return make_error(ErrorCode::kCorrupt,
                          "store in " + folder_.string() + " holds blocks but no layout version");
      }
      SYNAPSE_RETURN_IF_ERROR(
          put_u64(w.get(), meta_, val_of(kMetaVersion), kLayoutVersion, "layout version"));
      SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), Meta{}));
      return w.txn.commit();
    }
    if (version != kLayoutVersion) {
      return make_error(ErrorCode::kCorrupt, "store in " + folder_.string() +
                                                 " has layout version " + std::to_string(version) +
                                                 "; this build reads " +
                                                 std::to_string(kLayoutVersion));
    }
    SYNAPSE_RETURN_IF_ERROR(read_meta(w.get()));  // present and well-formed
    return w.txn.commit();                        // commits the database handles
  }

  core::Result<size_t> put_many(std::span<const Block> blocks) override {
    SYNAPSE_RETURN_IF_ERROR(internal::check_block_sizes(blocks));
    if (blocks.empty()) return 0;
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
    size_t added = 0;
    uint64_t added_bytes = 0;
    static uint8_t empty = 0;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const core::Bytes& data = blocks[i].data();
      Key key = key_of(blocks[i].cid());
      MDB_val k = key.val();
      MDB_val v{data.size(), data.empty() ? &empty : const_cast<uint8_t*>(data.data())};
      int rc = mdb_put(w.get(), blocks_, &k, &v, MDB_NOOVERWRITE);
      if (rc == MDB_KEYEXIST) continue;
      if (rc != 0) return fail(rc, "cannot store block " + blocks[i].cid().to_string());
      ++added;
      added_bytes += data.size();
      if (!fits(meta.bytes, added_bytes, capacity_)) {
        return store_full(w.get(), blocks.subspan(i + 1), meta.bytes, added, added_bytes);
      }
    }
    if (added == 0) return 0;  // nothing changed; the transaction aborts
    meta.blocks += added;
    meta.bytes += added_bytes;
    SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
    SYNAPSE_RETURN_IF_ERROR(commit(w, added_bytes));
    return added;
  }

  core::Result<core::Bytes> get(const Cid& cid) override {
    core::Bytes data;
    {
      SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
      Key key = key_of(cid);
      MDB_val k = key.val();
      MDB_val v;
      int rc = mdb_get(txn.get(), blocks_, &k, &v);
      if (rc == MDB_NOTFOUND) return not_found(cid);
      if (rc != 0) return fail(rc, "cannot read block " + cid.to_string());
      core::ByteView bytes = view_of(v);
      data.assign(bytes.begin(), bytes.end());
      if (bytes.size() >= kUnmapAfterReading) unmap_file_pages(bytes.data(), bytes.size());
    }
    if (cid.matches(data)) return data;
    SYNAPSE_ASSIGN_OR_RETURN(Recheck recheck, drop_if_corrupt(cid, &data));
    if (recheck == Recheck::kValid) return data;  // a good copy replaced it meanwhile
    return corrupt_error(cid);
  }

  core::Result<bool> has(const Cid& cid) override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    Key key = key_of(cid);
    MDB_val k = key.val();
    MDB_val v;
    int rc = mdb_get(txn.get(), blocks_, &k, &v);
    if (rc == MDB_NOTFOUND) return false;
    if (rc != 0) return fail(rc, "cannot look up block " + cid.to_string());
    return true;
  }

  core::Result<uint64_t> size(const Cid& cid) override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    Key key = key_of(cid);
    MDB_val k = key.val();
    MDB_val v;
    int rc = mdb_get(txn.get(), blocks_, &k, &v);
    if (rc == MDB_NOTFOUND) return not_found(cid);
    if (rc != 0) return fail(rc, "cannot look up block " + cid.to_string());
    return v.mv_size;
  }

  core::Result<uint64_t> references(const Cid& cid) override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    Key key = key_of(cid);
    return get_u64(txn.get(), refs_, key.val(), 0, "reference count");
  }

  core::Status remove(const Cid& cid) override {
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    Key key = key_of(cid);
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t refs,
                             get_u64(w.get(), refs_, key.val(), 0, "reference count"));
    if (refs > 0) {
      return make_error(
          ErrorCode::kFailedPrecondition,
          "block " + cid.to_string() + " is referenced by " + std::to_string(refs) + " pin(s)");
    }
    MDB_val k = key.val();
    MDB_val v;
    int rc = mdb_get(w.get(), blocks_, &k, &v);
    if (rc == MDB_NOTFOUND) return not_found(cid);
    if (rc != 0) return fail(rc, "cannot remove block " + cid.to_string());
    const uint64_t size = v.mv_size;
    SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
    rc = mdb_del(w.get(), blocks_, &k, nullptr);
    if (rc != 0) return fail(rc, "cannot remove block " + cid.to_string());
    meta.blocks -= 1;
    meta.bytes -= size;
    SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
    return commit(w);
  }

  core::Status for_each(const std::function<bool(const Cid& cid, uint64_t size)>& visit) override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    Cursor cursor;
    SYNAPSE_RETURN_IF_ERROR(cursor.open(txn.get(), blocks_));
    MDB_val k;
    MDB_val v;
    int rc = cursor.seek(std::nullopt, k, v);
    for (; rc == 0; rc = cursor.next(k, v)) {
      SYNAPSE_ASSIGN_OR_RETURN(Cid cid, cid_from(k));
      if (!visit(cid, v.mv_size)) return core::ok();
    }
    if (rc != MDB_NOTFOUND) return fail(rc, "cannot list blocks");
    return core::ok();
  }

  core::Status pin(const Cid& root) override {
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    SYNAPSE_ASSIGN_OR_RETURN(internal::DagWalk walk,
                             internal::walk_dag(root, lookup_fn(w.get(), root), /*stop=*/true));
    if (!walk.corrupt.empty()) {
      // The pin fails; the corrupt block goes, as a get of it would have removed it.
      const Cid& bad = walk.corrupt.front();
      SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
      SYNAPSE_RETURN_IF_ERROR(drop_block(w.get(), meta, bad));
      SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
      SYNAPSE_RETURN_IF_ERROR(commit(w));
      return make_error(ErrorCode::kCorrupt, "cannot pin " + root.to_string() + ": block " +
                                                 bad.to_string() +
                                                 " failed verification and was removed");
    }
    if (!walk.missing.empty()) {
      return make_error(ErrorCode::kNotFound, "cannot pin " + root.to_string() + ": block " +
                                                  walk.missing.front().to_string() + " is missing");
    }
    for (const auto& [cid, paths] : walk.reached) {
      Key key = key_of(cid);
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t count,
                               get_u64(w.get(), refs_, key.val(), 0, "reference count"));
      SYNAPSE_RETURN_IF_ERROR(put_u64(w.get(), refs_, key.val(),
                                      internal::saturating_add(count, paths), "reference count"));
    }
    Key root_key = key_of(root);
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t pins,
                             get_u64(w.get(), pins_, root_key.val(), 0, "pin count"));
    SYNAPSE_RETURN_IF_ERROR(
        put_u64(w.get(), pins_, root_key.val(), internal::saturating_add(pins, 1), "pin count"));
    return commit(w);
  }

  core::Status unpin(const Cid& root) override {
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    Key root_key = key_of(root);
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t pins,
                             get_u64(w.get(), pins_, root_key.val(), 0, "pin count"));
    if (pins == 0) return make_error(ErrorCode::kNotFound, root.to_string() + " is not pinned");
    // Blocks below a pin cannot be removed (remove refuses, gc keeps them); only a block that
    // failed verification can be gone. Its children are then out of reach and keep the
    // references this pin gave them (docs/storage.md, "Known limits").
    SYNAPSE_ASSIGN_OR_RETURN(internal::DagWalk walk,
                             internal::walk_dag(root, lookup_fn(w.get(), root), /*stop=*/false));
    if (!walk.corrupt.empty()) {
      SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
      for (const Cid& bad : walk.corrupt) SYNAPSE_RETURN_IF_ERROR(drop_block(w.get(), meta, bad));
      SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
    }
    for (const auto& [cid, paths] : walk.reached) {
      Key key = key_of(cid);
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t count,
                               get_u64(w.get(), refs_, key.val(), 0, "reference count"));
      if (count > paths) {
        SYNAPSE_RETURN_IF_ERROR(
            put_u64(w.get(), refs_, key.val(), count - paths, "reference count"));
      } else if (count > 0) {
        SYNAPSE_RETURN_IF_ERROR(del(w.get(), refs_, key, "reference count"));
      }
    }
    if (pins > 1) {
      SYNAPSE_RETURN_IF_ERROR(put_u64(w.get(), pins_, root_key.val(), pins - 1, "pin count"));
    } else {
      SYNAPSE_RETURN_IF_ERROR(del(w.get(), pins_, root_key, "pin count"));
    }
    return commit(w);
  }

  core::Result<std::vector<PinInfo>> pins() override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    Cursor cursor;
    SYNAPSE_RETURN_IF_ERROR(cursor.open(txn.get(), pins_));
    std::vector<PinInfo> out;
    MDB_val k;
    MDB_val v;
    int rc = cursor.seek(std::nullopt, k, v);
    for (; rc == 0; rc = cursor.next(k, v)) {
      SYNAPSE_ASSIGN_OR_RETURN(Cid root, cid_from(k));
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t count, u64_from(v, "pin count"));
      out.push_back(PinInfo{root, count});
    }
    if (rc != MDB_NOTFOUND) return fail(rc, "cannot list pins");
    return out;
  }

  core::Result<GcResult> gc() override {
    GcResult result;
    std::optional<Key> resume;
    std::vector<std::pair<Key, uint64_t>> doomed;
    for (bool more = true; more;) {
      SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
      doomed.clear();
      more = false;
      {
        Cursor cursor;
        SYNAPSE_RETURN_IF_ERROR(cursor.open(w.get(), blocks_));
        MDB_val k;
        MDB_val v;
        size_t scanned = 0;
        int rc = cursor.seek(resume, k, v);
        for (; rc == 0; rc = cursor.next(k, v)) {
          if (doomed.size() >= kGcBatch || scanned >= kGcScanBatch) {
            more = true;
            break;
          }
          ++scanned;
          SYNAPSE_ASSIGN_OR_RETURN(resume, key_from(k));
          SYNAPSE_ASSIGN_OR_RETURN(uint64_t refs, get_u64(w.get(), refs_, k, 0, "reference count"));
          if (refs == 0) doomed.emplace_back(*resume, v.mv_size);
        }
        if (rc != 0 && rc != MDB_NOTFOUND) return fail(rc, "gc: cannot list blocks");
      }  // the cursor closes before the transaction ends
      if (doomed.empty()) continue;
      SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
      for (auto& [key, size] : doomed) {
        SYNAPSE_RETURN_IF_ERROR(del(w.get(), blocks_, key, "block"));
        // A reference count of zero is never stored; should one be, it goes with its block.
        MDB_val k = key.val();
        int rc = mdb_del(w.get(), refs_, &k, nullptr);
        if (rc != 0 && rc != MDB_NOTFOUND) return fail(rc, "gc: cannot delete a reference");
        meta.blocks -= 1;
        meta.bytes -= size;
      }
      SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
      SYNAPSE_RETURN_IF_ERROR(commit(w));
      for (const auto& [key, size] : doomed) {
        ++result.blocks_removed;
        result.bytes_freed += size;
      }
    }
    return result;
  }

  core::Result<VerifyResult> verify() override {
    VerifyResult result;
    std::vector<Cid> suspects;
    std::optional<Key> resume;
    for (bool more = true; more;) {
      more = false;
      SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
      Cursor cursor;
      SYNAPSE_RETURN_IF_ERROR(cursor.open(txn.get(), blocks_));
      MDB_val k;
      MDB_val v;
      uint64_t hashed = 0;
      int rc = cursor.seek(resume, k, v);
      for (; rc == 0; rc = cursor.next(k, v)) {
        if (hashed >= kVerifyChunkBytes) {
          more = true;
          break;
        }
        SYNAPSE_ASSIGN_OR_RETURN(resume, key_from(k));
        SYNAPSE_ASSIGN_OR_RETURN(Cid cid, cid_from(k));
        ++result.blocks_checked;
        result.bytes_checked += v.mv_size;
        hashed += v.mv_size + 1;
        if (!cid.matches(view_of(v))) suspects.push_back(cid);
      }
      if (rc != 0 && rc != MDB_NOTFOUND) return fail(rc, "verify: cannot list blocks");
      release_map();
    }
    for (const Cid& cid : suspects) {
      SYNAPSE_ASSIGN_OR_RETURN(Recheck recheck, drop_if_corrupt(cid, nullptr));
      if (recheck == Recheck::kRemoved) result.corrupt.push_back(cid);
    }
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    SYNAPSE_ASSIGN_OR_RETURN(auto counts, count_references(txn.get()));
    result.missing = counts.second;
    return result;
  }

  core::Result<StoreStats> stats() override {
    SYNAPSE_ASSIGN_OR_RETURN(Txn txn, begin_read());
    SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(txn.get()));
    MDB_stat pin_stat;
    int rc = mdb_stat(txn.get(), pins_, &pin_stat);
    if (rc != 0) return fail(rc, "stats: cannot count pins");
    SYNAPSE_ASSIGN_OR_RETURN(auto counts, count_references(txn.get()));
    StoreStats stats;
    stats.blocks = meta.blocks;
    stats.bytes = meta.bytes;
    stats.capacity = capacity_;
    stats.pinned_roots = pin_stat.ms_entries;
    stats.referenced = counts.first;
    stats.missing = counts.second;
    stats.corrupt_removed = meta.corrupt_removed;
    return stats;
  }

 private:
  core::Result<Txn> begin_read() {
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
    if (rc != 0) return fail(rc, "store: cannot begin a read transaction");
    return Txn(txn);
  }

  core::Result<WriteTxn> begin_write() {
    WriteTxn w{std::unique_lock(write_mu_), Txn()};
    MDB_txn* txn = nullptr;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return fail(rc, "store: cannot begin a write transaction");
    w.txn = Txn(txn);
    return w;
  }

  core::Result<Meta> read_meta(MDB_txn* txn) {
    Meta meta;
    const std::pair<std::string_view, uint64_t*> fields[] = {{kMetaBlocks, &meta.blocks},
                                                             {kMetaBytes, &meta.bytes},
                                                             {kMetaCorrupt, &meta.corrupt_removed}};
    for (const auto& [name, field] : fields) {
      MDB_val key = val_of(name);
      MDB_val val;
      int rc = mdb_get(txn, meta_, &key, &val);
      if (rc == MDB_NOTFOUND) {
        return make_error(ErrorCode::kCorrupt,
                          "store: meta counter " + std::string(name) + " is missing");
      }
      if (rc != 0) return fail(rc, "store: cannot read meta counter " + std::string(name));
      SYNAPSE_ASSIGN_OR_RETURN(*field, u64_from(val, name));
    }
    return meta;
  }

  core::Status write_meta(MDB_txn* txn, const Meta& meta) {
    SYNAPSE_RETURN_IF_ERROR(put_u64(txn, meta_, val_of(kMetaBlocks), meta.blocks, kMetaBlocks));
    SYNAPSE_RETURN_IF_ERROR(put_u64(txn, meta_, val_of(kMetaBytes), meta.bytes, kMetaBytes));
    return put_u64(txn, meta_, val_of(kMetaCorrupt), meta.corrupt_removed, kMetaCorrupt);
  }

  static core::Status del(MDB_txn* txn, MDB_dbi dbi, Key key, std::string_view what) {
    MDB_val k = key.val();
    int rc = mdb_del(txn, dbi, &k, nullptr);
    if (rc != 0) return fail(rc, "store: cannot delete a " + std::string(what));
    return core::ok();
  }

  // Deletes a block that failed verification (keeping its references) and counts it in
  // `meta`, which the caller writes back. Absent blocks are skipped.
  core::Status drop_block(MDB_txn* txn, Meta& meta, const Cid& cid) {
    Key key = key_of(cid);
    MDB_val k = key.val();
    MDB_val v;
    int rc = mdb_get(txn, blocks_, &k, &v);
    if (rc == MDB_NOTFOUND) return core::ok();
    if (rc != 0) return fail(rc, "cannot remove corrupt block " + cid.to_string());
    const uint64_t size = v.mv_size;
    rc = mdb_del(txn, blocks_, &k, nullptr);
    if (rc != 0) return fail(rc, "cannot remove corrupt block " + cid.to_string());
    meta.blocks -= 1;
    meta.bytes -= size;
    meta.corrupt_removed += 1;
    return core::ok();
  }

  // Called after a read found `cid` corrupt: checks again under the writer lock (another
  // caller may have removed it, or removed it and stored a good copy) and removes it if it is
  // still bad. With kValid, `good_copy` (if given) holds the now valid bytes.
  core::Result<Recheck> drop_if_corrupt(const Cid& cid, core::Bytes* good_copy) {
    SYNAPSE_ASSIGN_OR_RETURN(WriteTxn w, begin_write());
    Key key = key_of(cid);
    MDB_val k = key.val();
    MDB_val v;
    int rc = mdb_get(w.get(), blocks_, &k, &v);
    if (rc == MDB_NOTFOUND) return Recheck::kAbsent;
    if (rc != 0) return fail(rc, "cannot read block " + cid.to_string());
    if (cid.matches(view_of(v))) {
      if (good_copy != nullptr) good_copy->assign(view_of(v).begin(), view_of(v).end());
      return Recheck::kValid;
    }
    SYNAPSE_ASSIGN_OR_RETURN(Meta meta, read_meta(w.get()));
    SYNAPSE_RETURN_IF_ERROR(drop_block(w.get(), meta, cid));
    SYNAPSE_RETURN_IF_ERROR(write_meta(w.get(), meta));
    SYNAPSE_RETURN_IF_ERROR(commit(w));
    return Recheck::kRemoved;
  }

  // Children of a stored block for the DAG walk, read in `txn`. Raw blocks are only looked
  // up; dag-pb nodes are read and verified, since their links decide what gets referenced.
  std::function<core::Result<internal::NodeLookup>(const Cid&)> lookup_fn(MDB_txn* txn,
                                                                          const Cid& root) {
    // Long walks let go of the map now and then (every 256 blocks or 4 MiB read), as bulk
    // writes do after each commit.
    return [this, txn, &root, lookups = uint64_t{0},
            bytes = uint64_t{0}](const Cid& v1) mutable -> core::Result<internal::NodeLookup> {
      if (++lookups % 256 == 0 || bytes >= (4u << 20)) {
        release_map();
        bytes = 0;
      }
      Key key = key_of(v1);
      MDB_val k = key.val();
      MDB_val v;
      int rc = mdb_get(txn, blocks_, &k, &v);
      if (rc == MDB_NOTFOUND) return internal::NodeLookup{internal::NodeState::kMissing, {}};
      if (rc != 0) return fail(rc, "cannot read block " + v1.to_string());
      if (v1.codec() != crypto::Codec::kDagPb) {
        return internal::NodeLookup{internal::NodeState::kPresent, {}};
      }
      bytes += v.mv_size;
      if (!v1.matches(view_of(v))) {
        return internal::NodeLookup{internal::NodeState::kCorrupt, {}};
      }
      auto links = child_links(v1, view_of(v));
      if (!links) {
        return tl::unexpected(links.error().with_context(
            "cannot walk the DAG below " + root.to_string() + ": block " + v1.to_string()));
      }
      return internal::NodeLookup{internal::NodeState::kPresent, std::move(*links)};
    };
  }

  // (stored blocks with references, referenced blocks not stored).
  core::Result<std::pair<uint64_t, uint64_t>> count_references(MDB_txn* txn) {
    Cursor cursor;
    SYNAPSE_RETURN_IF_ERROR(cursor.open(txn, refs_));
    uint64_t referenced = 0;
    uint64_t missing = 0;
    MDB_val k;
    MDB_val v;
    int rc = cursor.seek(std::nullopt, k, v);
    for (; rc == 0; rc = cursor.next(k, v)) {
      SYNAPSE_ASSIGN_OR_RETURN(uint64_t count, u64_from(v, "reference count"));
      if (count == 0) continue;
      MDB_val key = k;
      MDB_val block;
      int found = mdb_get(txn, blocks_, &key, &block);
      if (found == 0) {
        ++referenced;
      } else if (found == MDB_NOTFOUND) {
        ++missing;
      } else {
        return fail(found, "cannot look up a referenced block");
      }
    }
    if (rc != MDB_NOTFOUND) return fail(rc, "cannot list references");
    return std::pair{referenced, missing};
  }

  // Fails a put_many that does not fit, naming what it would have added in all.
  core::Result<size_t> store_full(MDB_txn* txn, std::span<const Block> rest, uint64_t used,
                                  size_t added, uint64_t added_bytes) {
    for (const Block& block : rest) {
      Key key = key_of(block.cid());
      MDB_val k = key.val();
      MDB_val v;
      if (mdb_get(txn, blocks_, &k, &v) == MDB_NOTFOUND) {
        ++added;
        added_bytes += block.data().size();
      }
    }
    return make_error(ErrorCode::kStoreFull,
                      "store full: adding " + std::to_string(added) + " block(s) (" +
                          core::format_size(added_bytes) + ") to " + core::format_size(used) +
                          " would exceed the capacity of " + core::format_size(capacity_));
  }

  // Commits a write transaction, then lets go of the map pages it touched: after every large
  // one, and after every kSmallCommitsPerRelease small ones (a daemon committing many small
  // files would otherwise pay for unmapping and mapping the pages back on every commit).
  core::Status commit(WriteTxn& w, uint64_t bytes_written = 0) {
    SYNAPSE_RETURN_IF_ERROR(w.txn.commit());
    if (bytes_written >= kLargeCommitBytes ||
        small_commits_.fetch_add(1, std::memory_order_relaxed) + 1 >= kSmallCommitsPerRelease) {
      small_commits_.store(0, std::memory_order_relaxed);
      release_map();
    }
    return core::ok();
  }

  // Unmaps the whole used part of the data file (see unmap_file_pages). The cost grows with the
  // number of pages mapped, not with the store's size: empty page tables are skipped.
  void release_map() const { unmap_file_pages(map_address_, used_map_bytes()); }

  // Bytes of the map that hold pages of the data file.
  size_t used_map_bytes() const {
    MDB_envinfo info;
    MDB_stat stat;
    if (mdb_env_info(env_, &info) != 0 || mdb_env_stat(env_, &stat) != 0) return 0;
    return (info.me_last_pgno + 1) * stat.ms_psize;
  }

  MDB_env* env_;
  void* map_address_ = nullptr;
  const std::filesystem::path folder_;
  const uint64_t capacity_;
  std::mutex write_mu_;
  MDB_dbi blocks_ = 0;
  MDB_dbi refs_ = 0;
  MDB_dbi pins_ = 0;
  MDB_dbi meta_ = 0;
  std::atomic<uint32_t> small_commits_{0};
};

}  // namespace

core::Result<std::unique_ptr<BlockStore>> open_lmdb_store(const std::filesystem::path& folder,
                                                          const LmdbOptions& options) {
  const std::string where = "cannot open store in " + folder.string();
  std::error_code ec;
  std::filesystem::create_directories(folder, ec);
  if (ec) return fail(ec.value(), where);
  if (!std::filesystem::is_directory(folder, ec)) return fail(ENOTDIR, where);

  MDB_env* env = nullptr;
  int rc = mdb_env_create(&env);
  if (rc != 0) return fail(rc, where);
  auto close_and_fail = [&](int code) {
    mdb_env_close(env);
    return fail(code, where);
  };
  if ((rc = mdb_env_set_maxdbs(env, kMaxDbs)) != 0) return close_and_fail(rc);
  if ((rc = mdb_env_set_mapsize(env, kMapSize)) != 0) return close_and_fail(rc);
  if ((rc = mdb_env_set_maxreaders(env, kMaxReaders)) != 0) return close_and_fail(rc);
  // MDB_NOTLS: read transactions are not tied to a thread. Without sync, MDB_NOSYNC: no fsync
  // at all; a killed process loses nothing, a power failure may lose or damage the last
  // commits (docs/storage.md).
  unsigned flags = MDB_NOTLS | (options.sync ? 0u : static_cast<unsigned>(MDB_NOSYNC));
  if ((rc = mdb_env_open(env, folder.c_str(), flags, 0600)) != 0) return close_and_fail(rc);
  // Release reader slots left by processes that died inside a read transaction; they would
  // otherwise keep freed pages from being reused.
  int dead = 0;
  if ((rc = mdb_reader_check(env, &dead)) != 0) return close_and_fail(rc);

  auto store = std::make_unique<LmdbStore>(env, folder, options.capacity);
  SYNAPSE_RETURN_IF_ERROR(store->init());
  return std::unique_ptr<BlockStore>(std::move(store));
}

}  // namespace synapse::blockstore
