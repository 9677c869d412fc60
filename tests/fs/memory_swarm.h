// A swarm of SharedFileSystems in one process, without a network: records go through a
// stand-in for the DHT that can be partitioned, and blocks are copied between the nodes'
// memory stores. Deterministic and single-threaded (tests call tick() themselves).
#pragma once

#include <map>
#include <memory>
#include <set>
#include <vector>

#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/memory_store.h"
#include "synapse/core/rng.h"
#include "synapse/fs/shared_file_system.h"
#include "test_util.h"

namespace synapse::fs::testing {

// Copies every block of the DAG under `root` that `to` lacks from the first of `from` that has
// it: the block exchange of the in-process swarms.
inline core::Status copy_dag_from(const crypto::Cid& root, blockstore::BlockStore& to,
                                  const std::vector<blockstore::BlockStore*>& from) {
  std::vector<crypto::Cid> todo{root};
  while (!todo.empty()) {
    const crypto::Cid cid = todo.back();
    todo.pop_back();
    auto bytes = to.get(cid);
    if (!bytes) {
      for (size_t i = 0; i < from.size() && !bytes; ++i) bytes = from[i]->get(cid);
      if (!bytes) return core::make_error(core::ErrorCode::kIo, "nobody holds " + cid.to_string());
      SYNAPSE_ASSIGN_OR_RETURN(auto block, blockstore::Block::verified(cid, *bytes));
      SYNAPSE_RETURN_IF_ERROR(to.put(block));
    }
    SYNAPSE_ASSIGN_OR_RETURN(auto children, blockstore::child_links(cid, *bytes));
    todo.insert(todo.end(), children.begin(), children.end());
  }
  return core::ok();
}

class MemorySwarm {
 public:
  struct Member;

  // One node's view of the swarm.
  class NodeBackend final : public Backend {
   public:
    NodeBackend(MemorySwarm& swarm, size_t index) : swarm_(swarm), index_(index) {}
    WriterId self() const override { return WriterId{static_cast<uint8_t>(index_ + 1)}; }
    uint64_t wall_ms() override { return swarm_.wall_ms_; }
    core::Result<std::vector<LayerRef>> layers(const DirId& dir, core::Duration) override {
      std::vector<LayerRef> out;
      for (const auto& [writer, ref] : swarm_.records_[swarm_.side(index_)][dir]) {
        out.push_back(ref);
      }
      return out;
    }
    void publish(const DirId& dir, const LayerRef& ref) override {
      swarm_.records_[swarm_.side(index_)][dir].insert_or_assign(ref.writer, ref);
    }
    core::Status fetch(const crypto::Cid& root, const WriterId&, core::Duration) override {
      return swarm_.copy_dag(root, index_);
    }
    void added(const crypto::Cid&) override {}
    void removed(const crypto::Cid&) override {}
    core::Status wait_replicated(const crypto::Cid&, core::Duration) override { return core::ok(); }
    FsStats stats() override { return FsStats{4096, 1 << 30, 1 << 29, 0}; }
    std::vector<std::pair<std::string, std::string>> peer_files() override {
      return {{"peer-a", "address 10.0.0.1\n"}};
    }

   private:
    MemorySwarm& swarm_;
    size_t index_;
  };

  struct Member {
    std::unique_ptr<blockstore::BlockStore> store = blockstore::make_memory_store();
    std::unique_ptr<NodeBackend> backend;
    std::unique_ptr<core::SeededRng> rng;
    std::unique_ptr<SharedFileSystem> fs;
    synapse::testing::TempDir state;
    int side = 0;
    bool up = true;
  };

  MemorySwarm(size_t nodes, uint64_t seed) {
    for (size_t i = 0; i < nodes; ++i) {
      auto member = std::make_unique<Member>();
      member->backend = std::make_unique<NodeBackend>(*this, i);
      member->rng = std::make_unique<core::SeededRng>(seed + i);
      members_.push_back(std::move(member));
      restart(i);
    }
  }

  SharedFileSystem& fs(size_t i) { return *members_[i]->fs; }
  blockstore::BlockStore& store(size_t i) { return *members_[i]->store; }
  size_t size() const { return members_.size(); }

  // Reopens node i's file system from its state folder and store (a restart).
  void restart(size_t i) {
    Member& m = *members_[i];
    m.fs.reset();
    SharedOptions options;
    options.state_dir = m.state.path();
    options.sync = false;
    options.revalidate_after = core::Duration::zero();
    options.publish_delay = core::Duration::zero();
    options.import.chunk_size = 4096;
    options.cache_bytes = cache_bytes_;
    auto opened =
        open_shared_file_system(*m.store, *m.backend, core::Env::posix(), clock_, *m.rng, options);
    SYNAPSE_CHECK(opened.has_value(), opened ? "" : opened.error().message());
    m.fs = std::move(*opened);
    m.fs->republish_all();
    m.up = true;
  }
  void stop(size_t i) {
    (void)members_[i]->fs->publish_now();
    members_[i]->up = false;
  }

  // Publishes what every node has committed.
  void settle() {
    for (auto& m : members_) {
      if (m->up) (void)m->fs->publish_now();
    }
  }
  void advance(uint64_t ms) { wall_ms_ += ms; }
  // For nodes (re)started from now on.
  void set_cache_bytes(uint64_t bytes) { cache_bytes_ = bytes; }

  // Nodes see records and blocks of nodes on their side only.
  void partition(const std::set<size_t>& side_one) {
    records_[1] = records_[0];  // both sides start with what the swarm knew
    for (size_t i = 0; i < members_.size(); ++i) members_[i]->side = side_one.count(i) ? 1 : 0;
  }
  void heal() {
    for (auto& [dir, writers] : records_[1]) {
      for (auto& [writer, ref] : writers) {
        auto& slot = records_[0][dir];
        auto it = slot.find(writer);
        if (it == slot.end() || it->second.seq < ref.seq) slot.insert_or_assign(writer, ref);
      }
    }
    records_[1] = records_[0];
    for (auto& m : members_) m->side = 0;
  }

 private:
  int side(size_t i) const { return members_[i]->side; }

  core::Status copy_dag(const crypto::Cid& root, size_t to) {
    std::vector<blockstore::BlockStore*> reachable;
    for (size_t from = 0; from < members_.size(); ++from) {
      if (from != to && members_[from]->up && side(from) == side(to)) {
        reachable.push_back(members_[from]->store.get());
      }
    }
    return copy_dag_from(root, *members_[to]->store, reachable);
  }

  core::SteadyClock clock_;
  uint64_t wall_ms_ = 1'790'000'000'000;
  uint64_t cache_bytes_ = uint64_t{1} << 30;
  std::vector<std::unique_ptr<Member>> members_;
  // side -> directory -> writer -> layer
  std::map<int, std::map<DirId, std::map<WriterId, LayerRef>>> records_;
};

}  // namespace synapse::fs::testing
