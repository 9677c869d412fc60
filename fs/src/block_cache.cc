// The cache of content fetched from other nodes: unpinned blocks in the store, evicted least
// recently used first once they exceed SharedOptions::cache_bytes.
#include "shared_impl.h"
#include "synapse/blockstore/dag_pb.h"

namespace synapse::fs {

void SharedFs::note_cached(const crypto::Cid& root, uint64_t bytes) {
  auto [it, inserted] = cached_.try_emplace(root, CachedRoot{bytes, 0});
  if (inserted) cached_bytes_ += bytes;
  it->second.last_use = ++use_clock_;
}

void SharedFs::touch_cached(const crypto::Cid& root) {
  auto it = cached_.find(root);
  if (it != cached_.end()) it->second.last_use = ++use_clock_;
}

CacheStats SharedFs::cache_stats() const {
  Lock lock(mu_);
  return CacheStats{cache_hits_, cache_misses_, cached_.size(), cached_bytes_};
}

void SharedFs::evict_cache() {
  std::vector<crypto::Cid> victims;
  {
    Lock lock(mu_);
    if (cached_bytes_ <= options_.cache_bytes) return;
    std::vector<std::pair<uint64_t, crypto::Cid>> by_age;
    for (const auto& [root, entry] : cached_) by_age.emplace_back(entry.last_use, root);
    std::sort(by_age.begin(), by_age.end());
    std::set<crypto::Cid> open;
    for (const auto& [ino, inode] : inodes_) {
      if (inode.open && inode.open->base) open.insert(*inode.open->base);
    }
    uint64_t left = cached_bytes_;
    for (const auto& [use, root] : by_age) {
      if (left <= options_.cache_bytes) break;
      if (open.count(root)) continue;
      left -= cached_[root].bytes;
      cached_bytes_ -= cached_[root].bytes;
      cached_.erase(root);
      complete_.erase(root);
      victims.push_back(root);
    }
  }
  // Blocks that something references (a pin, another file's DAG) stay: remove() refuses them.
  for (const crypto::Cid& root : victims) {
    std::vector<crypto::Cid> todo{root};
    while (!todo.empty()) {
      const crypto::Cid cid = todo.back();
      todo.pop_back();
      auto references = store_.references(cid);
      if (!references || *references > 0) continue;
      if (auto bytes = store_.get(cid)) {
        if (auto children = blockstore::child_links(cid, *bytes)) {
          todo.insert(todo.end(), children->begin(), children->end());
        }
      }
      (void)store_.remove(cid);
    }
  }
}

}  // namespace synapse::fs
