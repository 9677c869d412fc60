#include "synapse/blockstore/memory_store.h"

#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "block_limits.h"
#include "dag_walk.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/core/units.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;
using crypto::Cid;

// Everything is keyed by the CIDv1 form and guarded by one mutex; hashing on get happens
// outside it.
class MemoryStore final : public BlockStore {
 public:
  explicit MemoryStore(uint64_t capacity) : capacity_(capacity) {}

  core::Result<size_t> put_many(std::span<const Block> blocks) override {
    SYNAPSE_RETURN_IF_ERROR(internal::check_block_sizes(blocks));
    std::lock_guard lock(mu_);
    std::map<Cid, const Block*> fresh;
    uint64_t fresh_bytes = 0;
    for (const Block& block : blocks) {
      Cid key = block.cid().to_v1();
      if (blocks_.contains(key)) continue;
      if (fresh.try_emplace(key, &block).second) fresh_bytes += block.data().size();
    }
    if (!fresh.empty() && (fresh_bytes > capacity_ || used_ > capacity_ - fresh_bytes)) {
      return make_error(ErrorCode::kStoreFull,
                        "store full: adding " + std::to_string(fresh.size()) + " block(s) (" +
                            core::format_size(fresh_bytes) + ") to " + core::format_size(used_) +
                            " would exceed the capacity of " + core::format_size(capacity_));
    }
    for (const auto& [key, block] : fresh) {
      blocks_.emplace(key, Entry{block->data(), block->data().size()});
    }
    used_ += fresh_bytes;
    return fresh.size();
  }

  core::Result<core::Bytes> get(const Cid& cid) override {
    const Cid key = cid.to_v1();
    core::Bytes data;
    {
      std::lock_guard lock(mu_);
      auto it = blocks_.find(key);
      if (it == blocks_.end()) return not_found(cid);
      data = it->second.data;
    }
    if (cid.matches(data)) return data;
    std::lock_guard lock(mu_);
    auto it = blocks_.find(key);
    if (it != blocks_.end()) {
      if (it->second.data == data) {
        drop_corrupt(it);
      } else if (cid.matches(it->second.data)) {
        return it->second.data;  // replaced by a good copy meanwhile
      }
    }
    return corrupt_error(cid);
  }

  core::Result<bool> has(const Cid& cid) override {
    std::lock_guard lock(mu_);
    return blocks_.contains(cid.to_v1());
  }

  core::Result<uint64_t> size(const Cid& cid) override {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(cid.to_v1());
    if (it == blocks_.end()) return not_found(cid);
    return it->second.size;
  }

  core::Result<uint64_t> references(const Cid& cid) override {
    std::lock_guard lock(mu_);
    auto it = refs_.find(cid.to_v1());
    return it == refs_.end() ? 0 : it->second;
  }

  core::Status remove(const Cid& cid) override {
    const Cid key = cid.to_v1();
    std::lock_guard lock(mu_);
    auto ref = refs_.find(key);
    if (ref != refs_.end() && ref->second > 0) {
      return make_error(ErrorCode::kFailedPrecondition,
                        "block " + cid.to_string() + " is referenced by " +
                            std::to_string(ref->second) + " pin(s)");
    }
    auto it = blocks_.find(key);
    if (it == blocks_.end()) return not_found(cid);
    used_ -= it->second.size;
    blocks_.erase(it);
    return core::ok();
  }

  core::Status for_each(const std::function<bool(const Cid& cid, uint64_t size)>& visit) override {
    // A snapshot, so that visit runs without the lock (as with LMDB's read transaction).
    std::vector<std::pair<Cid, uint64_t>> snapshot;
    {
      std::lock_guard lock(mu_);
      snapshot.reserve(blocks_.size());
      for (const auto& [cid, entry] : blocks_) snapshot.emplace_back(cid, entry.size);
    }
    for (const auto& [cid, size] : snapshot) {
      if (!visit(cid, size)) break;
    }
    return core::ok();
  }

  core::Status pin(const Cid& root) override {
    std::lock_guard lock(mu_);
    SYNAPSE_ASSIGN_OR_RETURN(internal::DagWalk walk,
                             internal::walk_dag(root, lookup_fn(root), /*stop=*/true));
    if (!walk.corrupt.empty()) {
      drop_corrupt(blocks_.find(walk.corrupt.front()));
      return make_error(ErrorCode::kCorrupt, "cannot pin " + root.to_string() + ": block " +
                                                 walk.corrupt.front().to_string() +
                                                 " failed verification and was removed");
    }
    if (!walk.missing.empty()) {
      return make_error(ErrorCode::kNotFound, "cannot pin " + root.to_string() + ": block " +
                                                  walk.missing.front().to_string() + " is missing");
    }
    for (const auto& [cid, paths] : walk.reached) {
      uint64_t& count = refs_[cid];
      count = internal::saturating_add(count, paths);
    }
    uint64_t& pins = pins_[root.to_v1()];
    pins = internal::saturating_add(pins, 1);
    return core::ok();
  }

  core::Status unpin(const Cid& root) override {
    std::lock_guard lock(mu_);
    auto pin = pins_.find(root.to_v1());
    if (pin == pins_.end()) {
      return make_error(ErrorCode::kNotFound, root.to_string() + " is not pinned");
    }
    SYNAPSE_ASSIGN_OR_RETURN(internal::DagWalk walk,
                             internal::walk_dag(root, lookup_fn(root), /*stop=*/false));
    for (const Cid& cid : walk.corrupt) drop_corrupt(blocks_.find(cid));
    for (const auto& [cid, paths] : walk.reached) {
      auto ref = refs_.find(cid);
      if (ref == refs_.end()) continue;
      if (ref->second <= paths) {
        refs_.erase(ref);
      } else {
        ref->second -= paths;
      }
    }
    if (--pin->second == 0) pins_.erase(pin);
    return core::ok();
  }

  core::Result<std::vector<PinInfo>> pins() override {
    std::lock_guard lock(mu_);
    std::vector<PinInfo> out;
    out.reserve(pins_.size());
    for (const auto& [root, count] : pins_) out.push_back(PinInfo{root, count});
    return out;
  }

  core::Result<GcResult> gc() override {
    std::lock_guard lock(mu_);
    GcResult result;
    for (auto it = blocks_.begin(); it != blocks_.end();) {
      auto ref = refs_.find(it->first);
      if (ref != refs_.end() && ref->second > 0) {
        ++it;
        continue;
      }
      ++result.blocks_removed;
      result.bytes_freed += it->second.size;
      used_ -= it->second.size;
      it = blocks_.erase(it);
    }
    std::erase_if(refs_, [](const auto& ref) { return ref.second == 0; });
    return result;
  }

  core::Result<VerifyResult> verify() override {
    std::lock_guard lock(mu_);
    VerifyResult result;
    for (auto it = blocks_.begin(); it != blocks_.end();) {
      ++result.blocks_checked;
      result.bytes_checked += it->second.data.size();
      auto current = it++;
      if (!current->first.matches(current->second.data)) {
        result.corrupt.push_back(current->first);
        drop_corrupt(current);
      }
    }
    for (const auto& [cid, count] : refs_) {
      if (count > 0 && !blocks_.contains(cid)) ++result.missing;
    }
    return result;
  }

  core::Result<StoreStats> stats() override {
    std::lock_guard lock(mu_);
    StoreStats stats;
    stats.blocks = blocks_.size();
    stats.bytes = used_;
    stats.capacity = capacity_;
    stats.pinned_roots = pins_.size();
    for (const auto& [cid, count] : refs_) {
      if (count == 0) continue;
      ++(blocks_.contains(cid) ? stats.referenced : stats.missing);
    }
    stats.corrupt_removed = corrupt_removed_;
    return stats;
  }

  void corrupt_for_test(const Cid& cid, core::Bytes bytes) {
    std::lock_guard lock(mu_);
    auto it = blocks_.find(cid.to_v1());
    SYNAPSE_CHECK(it != blocks_.end(), "corrupt_memory_block_for_test: block not stored");
    it->second.data = std::move(bytes);
  }

 private:
  struct Entry {
    core::Bytes data;
    uint64_t size;  // as stored; the test hook may change `data` but not this
  };
  using BlockMap = std::map<Cid, Entry>;

  static tl::unexpected<core::Error> not_found(const Cid& cid) {
    return make_error(ErrorCode::kNotFound, "block " + cid.to_string() + " not found");
  }
  static tl::unexpected<core::Error> corrupt_error(const Cid& cid) {
    return make_error(ErrorCode::kCorrupt,
                      "block " + cid.to_string() + " failed verification and was removed");
  }

  // Requires mu_.
  void drop_corrupt(BlockMap::iterator it) {
    if (it == blocks_.end()) return;
    used_ -= it->second.size;
    blocks_.erase(it);
    ++corrupt_removed_;
  }

  // Requires mu_ for as long as the returned function is used.
  std::function<core::Result<internal::NodeLookup>(const Cid&)> lookup_fn(const Cid& root) {
    return [this, root](const Cid& v1) -> core::Result<internal::NodeLookup> {
      auto it = blocks_.find(v1);
      if (it == blocks_.end()) return internal::NodeLookup{internal::NodeState::kMissing, {}};
      if (v1.codec() != crypto::Codec::kDagPb) {
        return internal::NodeLookup{internal::NodeState::kPresent, {}};
      }
      if (!v1.matches(it->second.data)) {
        return internal::NodeLookup{internal::NodeState::kCorrupt, {}};
      }
      auto links = child_links(v1, it->second.data);
      if (!links) {
        return tl::unexpected(links.error().with_context(
            "cannot walk the DAG below " + root.to_string() + ": block " + v1.to_string()));
      }
      return internal::NodeLookup{internal::NodeState::kPresent, std::move(*links)};
    };
  }

  std::mutex mu_;
  const uint64_t capacity_;
  BlockMap blocks_;
  std::map<Cid, uint64_t> refs_;
  std::map<Cid, uint64_t> pins_;
  uint64_t used_ = 0;
  uint64_t corrupt_removed_ = 0;
};

std::unique_ptr<BlockStore> make_memory_store(uint64_t capacity) {
  return std::make_unique<MemoryStore>(capacity);
}

void corrupt_memory_block_for_test(BlockStore& store, const crypto::Cid& cid, core::Bytes bytes) {
  auto* memory = dynamic_cast<MemoryStore*>(&store);
  SYNAPSE_CHECK(memory != nullptr, "corrupt_memory_block_for_test needs a memory store");
  memory->corrupt_for_test(cid, std::move(bytes));
}

}  // namespace synapse::blockstore
