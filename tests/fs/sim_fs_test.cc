// The shared file system over the DHT simulator (docs/filesystem.md, "Tests"): directory
// records travel through real Kademlia nodes on a virtual network that is partitioned and then
// heals. Blocks are copied between the file system nodes' stores on the same side (the block
// exchange is not simulated). Replay a failure with SYNAPSE_SEED=<seed printed>.
#include <gtest/gtest.h>

#include <random>

#include "dht/sim/simulator.h"
#include "memory_swarm.h"
#include "path_ops.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/memory_store.h"
#include "synapse/crypto/identity.h"
#include "synapse/fs/shared_file_system.h"
#include "test_util.h"

namespace synapse::fs {
namespace {

using dht::sim::Simulator;
using testing::make_dir;
using testing::read_file;
using testing::resolve_path;
using testing::snapshot;
using testing::write_file;

class SimSwarm;

// One file system node: its DHT node is sim node `index`.
class SimBackend final : public Backend {
 public:
  SimBackend(SimSwarm& swarm, size_t member, size_t index, crypto::NodeIdentity identity)
      : swarm_(swarm), member_(member), index_(index), identity_(std::move(identity)) {}
  WriterId self() const override {
    WriterId id;
    const auto& node = identity_.node_id();
    std::copy(node.bytes().begin(), node.bytes().end(), id.begin());
    return id;
  }
  uint64_t wall_ms() override;
  core::Result<std::vector<LayerRef>> layers(const DirId& dir, core::Duration) override;
  void publish(const DirId& dir, const LayerRef& layer) override;
  core::Status fetch(const crypto::Cid& root, const WriterId&, core::Duration) override;
  void added(const crypto::Cid&) override {}
  void removed(const crypto::Cid&) override {}
  core::Status wait_replicated(const crypto::Cid&, core::Duration) override { return core::ok(); }
  FsStats stats() override { return {}; }
  std::vector<std::pair<std::string, std::string>> peer_files() override { return {}; }

  size_t index() const { return index_; }

 private:
  SimSwarm& swarm_;
  size_t member_;
  size_t index_;
  crypto::NodeIdentity identity_;
};

class SimSwarm {
 public:
  struct Member {
    std::unique_ptr<blockstore::BlockStore> store = blockstore::make_memory_store();
    std::unique_ptr<SimBackend> backend;
    std::unique_ptr<core::SeededRng> rng;
    std::unique_ptr<SharedFileSystem> fs;
    synapse::testing::TempDir state;
  };

  SimSwarm(uint64_t seed, size_t dht_nodes, size_t fs_nodes) : rng_(seed) {
    dht::sim::SimOptions options;
    options.seed = seed;
    sim_ = std::make_unique<Simulator>(options);
    SYNAPSE_CHECK(sim_->grow(dht_nodes, 1ms) == dht_nodes, "the DHT did not form");
    for (size_t m = 0; m < fs_nodes; ++m) {
      auto member = std::make_unique<Member>();
      const size_t index = m * (dht_nodes / fs_nodes);
      member->backend =
          std::make_unique<SimBackend>(*this, m, index, crypto::NodeIdentity::generate(rng_));
      member->rng = std::make_unique<core::SeededRng>(seed + 100 + m);
      SharedOptions fs_options;
      fs_options.state_dir = member->state.path();
      fs_options.sync = false;
      fs_options.revalidate_after = core::Duration::zero();
      fs_options.import.chunk_size = 1024;
      auto opened = open_shared_file_system(*member->store, *member->backend, core::Env::posix(),
                                            clock_, *member->rng, fs_options);
      SYNAPSE_CHECK(opened.has_value(), "cannot open a file system");
      member->fs = std::move(*opened);
      members_.push_back(std::move(member));
    }
  }

  Simulator& sim() { return *sim_; }
  SharedFileSystem& fs(size_t m) { return *members_[m]->fs; }
  size_t size() const { return members_.size(); }
  uint8_t side_of(size_t m) { return sim_->side(members_[m]->backend->index()); }

  // Publishes what every node committed and lets the DHT carry it.
  void settle(core::Duration time = std::chrono::seconds(5)) {
    for (auto& member : members_) (void)member->fs->publish_now();
    sim_->run_for(time);
  }

  core::Status copy_dag(const crypto::Cid& root, size_t to) {
    std::vector<blockstore::BlockStore*> reachable;
    for (size_t from = 0; from < members_.size(); ++from) {
      if (from != to && side_of(from) == side_of(to))
        reachable.push_back(members_[from]->store.get());
    }
    return testing::copy_dag_from(root, *members_[to]->store, reachable);
  }

 private:
  core::SeededRng rng_;
  core::SteadyClock clock_;  // the file systems' revalidation clock (revalidation is immediate)
  std::unique_ptr<Simulator> sim_;
  std::vector<std::unique_ptr<Member>> members_;
};

uint64_t SimBackend::wall_ms() {
  return 1'790'000'000'000 +
         static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   swarm_.sim().now().time_since_epoch())
                                   .count());
}

core::Result<std::vector<LayerRef>> SimBackend::layers(const DirId& dir, core::Duration) {
  std::optional<dht::GetResult> result;
  swarm_.sim().node(index_).get(dht::Key(dir), swarm_.sim().now(),
                                [&](dht::GetResult r) { result = std::move(r); });
  if (!swarm_.sim().run_until([&] { return result.has_value(); }, std::chrono::seconds(60))) {
    return core::make_error(core::ErrorCode::kIo, "get timed out");
  }
  std::vector<LayerRef> out;
  for (const dht::SignedValue& value : result->values) {
    auto cid = crypto::Cid::from_bytes(value.data);
    if (!cid) continue;
    WriterId writer;
    const auto id = value.writer_id();
    std::copy(id.bytes().begin(), id.bytes().end(), writer.begin());
    out.push_back(LayerRef{writer, *cid, value.seq});
  }
  return out;
}

void SimBackend::publish(const DirId& dir, const LayerRef& layer) {
  auto value =
      dht::SignedValue::sign(identity_, dht::Key(dir), layer.seq, 3600, layer.layer.to_bytes());
  SYNAPSE_CHECK(value.has_value(), "cannot sign");
  swarm_.sim().node(index_).put(*value, swarm_.sim().now(), nullptr);
}

core::Status SimBackend::fetch(const crypto::Cid& root, const WriterId&, core::Duration) {
  return swarm_.copy_dag(root, member_);
}

TEST(SharedFsSimulation, BothSidesOfAPartitionWriteAndAfterHealingEveryNodeShowsOneTree) {
  const uint64_t seed = synapse::testing::test_seed();
  SCOPED_TRACE("SYNAPSE_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  SimSwarm swarm(seed, 200, 6);
  ASSERT_TRUE(make_dir(swarm.fs(0), "/data"));
  ASSERT_TRUE(write_file(swarm.fs(0), "/data/before", "written before the partition"));
  swarm.settle();
  for (size_t m = 0; m < swarm.size(); ++m) {
    ASSERT_EQ(read_file(swarm.fs(m), "/data/before").value_or("?"), "written before the partition")
        << "node " << m;
  }

  // Two sides, each with three file system nodes and half the DHT.
  Simulator& sim = swarm.sim();
  for (size_t i = 0; i < sim.size(); ++i) sim.set_side(i, static_cast<uint8_t>(i * 2 / sim.size()));
  sim.run_for(std::chrono::minutes(2));
  std::map<std::pair<int, std::string>, std::string> last_per_side;
  for (int step = 0; step < 60; ++step) {
    const size_t m = rng() % swarm.size();
    const int side = swarm.side_of(m);
    // The same names on both sides, and names of one side only.
    const std::string name =
        rng() % 2 ? "/data/same" + std::to_string(rng() % 3)
                  : "/data/side" + std::to_string(side) + "-" + std::to_string(rng() % 3);
    const std::string content = "node " + std::to_string(m) + " step " + std::to_string(step);
    ASSERT_TRUE(write_file(swarm.fs(m), name, content)) << name;
    last_per_side[{side, name}] = content;
    if (step % 5 == 0) swarm.settle(std::chrono::seconds(1));
  }
  // Both sides make the same new directory and put different files in it.
  ASSERT_TRUE(make_dir(swarm.fs(0), "/data/merged"));
  ASSERT_TRUE(write_file(swarm.fs(0), "/data/merged/from-left", "L"));
  ASSERT_TRUE(make_dir(swarm.fs(5), "/data/merged"));
  ASSERT_TRUE(write_file(swarm.fs(5), "/data/merged/from-right", "R"));
  swarm.settle();

  sim.heal();
  sim.run_for(std::chrono::minutes(20));
  swarm.settle();
  const auto tree = snapshot(swarm.fs(0));
  for (size_t m = 1; m < swarm.size(); ++m) EXPECT_EQ(snapshot(swarm.fs(m)), tree) << "node " << m;
  std::set<std::string> contents;
  for (const auto& [path, content] : tree) contents.insert(content);
  for (const auto& [side_name, content] : last_per_side) {
    EXPECT_TRUE(contents.count(content)) << side_name.second << " lost " << content;
  }
  // A name written on both sides left conflict copies (the partition was real).
  size_t copies = 0;
  for (const auto& [path, content] : tree) copies += path.find(".conflict-") != std::string::npos;
  size_t both_sides = 0;
  for (const auto& [side_name, content] : last_per_side) {
    both_sides += side_name.first == 0 && last_per_side.count({1, side_name.second});
  }
  EXPECT_GE(copies, both_sides);
  EXPECT_GT(both_sides, 0u);
  EXPECT_EQ(tree.count("/data/before"), 1u);
  EXPECT_EQ(tree.at("/data/merged/from-left"), "L");
  EXPECT_EQ(tree.at("/data/merged/from-right"), "R");
}

}  // namespace
}  // namespace synapse::fs
