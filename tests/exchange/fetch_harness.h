// Shared by the Fetch tests: test files as DAGs in memory stores, and a simulated swarm whose
// providers each hold the file and answer the wants they were sent one round later (or never,
// or with corrupt bytes). Time is a fake clock advanced by a fixed step per round.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "blockstore/memory_file.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/file_reader.h"
#include "synapse/blockstore/importer.h"
#include "synapse/blockstore/memory_store.h"
#include "synapse/core/rng.h"
#include "synapse/exchange/fetch.h"
#include "synapse/exchange/peer_scores.h"
#include "test_util.h"

namespace synapse::exchange::fetch_testing {

using namespace std::chrono_literals;
using blockstore::BlockStore;
using core::Bytes;
using crypto::Cid;
using crypto::NodeId;

const core::MonoTime kStart = core::MonoTime{} + 1000s;

inline NodeId node(uint8_t n) {
  std::array<uint8_t, NodeId::kSize> bytes{};
  bytes[0] = n;
  bytes[31] = 0xa5;
  return NodeId(bytes);
}

// A file imported with small chunks and few links, so that its DAG has several levels.
struct TestFile {
  Bytes content;
  Cid root = Cid::of(1, crypto::Codec::kRaw, {});  // set by make_file
  std::unique_ptr<BlockStore> store;               // every block of the file
  std::vector<Cid> preorder;  // every block, the root first, then subtree by subtree
  uint64_t total_bytes = 0;   // the sizes of all blocks together
  Bytes block(const Cid& cid) const { return store->get(cid).value(); }
};

inline void walk(BlockStore& store, const Cid& cid, std::vector<Cid>& out) {
  out.push_back(cid);
  if (cid.codec() != crypto::Codec::kDagPb) return;
  const Bytes bytes = store.get(cid).value();
  const blockstore::PbNode node = blockstore::decode_pb_node(bytes).value();
  for (const blockstore::PbLink& link : node.links) walk(store, link.cid, out);
}

inline TestFile make_file(size_t size, uint64_t seed, size_t chunk_size = 1024,
                          size_t max_links = 4) {
  TestFile file;
  core::SeededRng rng(seed);
  file.content = testing::random_bytes(rng, size);
  file.store = blockstore::make_memory_store();
  blockstore::ImportOptions options;
  options.chunk_size = chunk_size;
  options.max_links = max_links;
  options.raw_leaves = true;
  options.cid_version = 1;
  testing::BytesFile input(file.content);
  auto imported = blockstore::import_file(*file.store, input, options, /*pin=*/false);
  EXPECT_TRUE(imported.has_value()) << imported.error().message();
  file.root = imported->root;
  walk(*file.store, file.root, file.preorder);
  for (const Cid& cid : file.preorder) file.total_bytes += file.store->size(cid).value();
  return file;
}

// A store holding the blocks of `file` for which `keep` is true.
inline std::unique_ptr<BlockStore> copy_of(
    const TestFile& file, const std::function<bool(size_t index, const Cid&)>& keep,
    uint64_t capacity = UINT64_MAX) {
  auto store = blockstore::make_memory_store(capacity);
  for (size_t i = 0; i < file.preorder.size(); ++i) {
    const Cid& cid = file.preorder[i];
    if (!keep(i, cid)) continue;
    EXPECT_TRUE(store->put(blockstore::Block::verified(cid, file.block(cid)).value()));
  }
  return store;
}
inline std::unique_ptr<BlockStore> full_copy(const TestFile& file) {
  return copy_of(file, [](size_t, const Cid&) { return true; });
}

inline core::Result<Bytes> read_back(BlockStore& store, const Cid& root) {
  SYNAPSE_ASSIGN_OR_RETURN(auto reader, blockstore::FileReader::open(store, root));
  Bytes out;
  SYNAPSE_RETURN_IF_ERROR(reader.read(0, reader.size(), [&](core::ByteView piece) {
    out.insert(out.end(), piece.begin(), piece.end());
    return core::ok();
  }));
  return out;
}

enum class Behaviour { kHonest, kCorrupt, kSilent };

struct SimProvider {
  NodeId id;
  std::unique_ptr<BlockStore> store;
  Behaviour behaviour = Behaviour::kHonest;
  int answer_every = 1;                               // answers only in rounds divisible by this
  std::set<Cid> refuse;                               // answered "missing" even though stored
  std::deque<Cid> queue;                              // wanted and not yet answered
  std::vector<std::pair<Cid, core::MonoTime>> asked;  // every want, when it was sent
  std::vector<Cid> cancelled;
  size_t blocks_sent = 0;
  size_t missing_sent = 0;

  bool was_asked(const Cid& cid) const {
    return std::any_of(asked.begin(), asked.end(), [&](const auto& a) { return a.first == cid; });
  }
};

// Drives one Fetch: each round the clock moves by `step`, providers whose turn it is answer
// everything queued, a due timer fires, and the fetch's wants and cancels are delivered.
class Swarm {
 public:
  Swarm(Fetch& fetch, core::Duration step = 10ms) : fetch_(fetch), step_(step) {}

  SimProvider& add(uint8_t n, std::unique_ptr<BlockStore> store,
                   Behaviour behaviour = Behaviour::kHonest, bool tell_fetch = true) {
    auto p = std::make_unique<SimProvider>();
    p->id = node(n);
    p->store = std::move(store);
    p->behaviour = behaviour;
    providers_.push_back(std::move(p));
    if (tell_fetch) fetch_.add_provider(providers_.back()->id, now);
    return *providers_.back();
  }

  SimProvider& provider(const NodeId& id) {
    for (auto& p : providers_) {
      if (p->id == id) return *p;
    }
    ADD_FAILURE() << "wants for an unknown provider";
    return *providers_.front();
  }

  // Answers (unless `first`), fires the timer if due, takes and routes outgoing messages.
  void round() {
    if (rounds > 0) {
      now += step_;
      answer();
      if (fetch_.next_timer() <= now) fetch_.on_timer(now);
    }
    ++rounds;
    Fetch::Outgoing out = fetch_.take_outgoing(now);
    for (Fetch::Request& cancel : out.cancels) {
      SimProvider& p = provider(cancel.peer);
      for (const Cid& cid : cancel.cids) {
        p.cancelled.push_back(cid);
        auto it = std::find(p.queue.begin(), p.queue.end(), cid);
        if (it != p.queue.end()) p.queue.erase(it);
      }
    }
    size_t round_wants = 0;
    for (Fetch::Request& want : out.wants) {
      SimProvider& p = provider(want.peer);
      EXPECT_FALSE(want.cids.empty());
      for (const Cid& cid : want.cids) {
        p.asked.emplace_back(cid, now);
        p.queue.push_back(cid);
        ++round_wants;
      }
      wants.push_back(std::move(want));
    }
    wants_per_round.push_back(round_wants);
  }

  // Runs rounds until the fetch finishes; false if it did not within `max_rounds`.
  bool run(int max_rounds = 5000) {
    for (int i = 0; i < max_rounds && !fetch_.finished(); ++i) round();
    return fetch_.finished();
  }

  size_t total_wants() const {
    size_t n = 0;
    for (const auto& w : wants) n += w.cids.size();
    return n;
  }

  core::MonoTime now = kStart;
  int rounds = 0;
  std::vector<Fetch::Request> wants;  // every request, in the order taken
  std::vector<size_t> wants_per_round;

 private:
  void answer() {
    for (auto& p : providers_) {
      if (p->behaviour == Behaviour::kSilent || rounds % p->answer_every != 0) continue;
      // A finished fetch gets no more answers (its owner forgets it).
      while (!p->queue.empty() && !fetch_.finished()) {
        const Cid cid = p->queue.front();
        p->queue.pop_front();
        auto bytes = p->store->get(cid);
        if (!bytes || p->refuse.contains(cid)) {
          ++p->missing_sent;
          fetch_.on_missing(p->id, cid, now);
          continue;
        }
        if (p->behaviour == Behaviour::kCorrupt) (*bytes)[bytes->size() / 2] ^= 0x40;
        ++p->blocks_sent;
        fetch_.on_block(p->id, cid, std::move(*bytes), now);
      }
    }
  }

  Fetch& fetch_;
  core::Duration step_;
  std::vector<std::unique_ptr<SimProvider>> providers_;
};

inline void expect_file_intact(BlockStore& store, const TestFile& file) {
  auto bytes = read_back(store, file.root);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().message();
  EXPECT_TRUE(*bytes == file.content) << "the fetched file differs from the original";
}

class FetchTest : public ::testing::Test {
 protected:
  // 200 KiB in 1 KiB chunks under nodes of 4 links: 200 leaves, 5 levels, 268 blocks.
  TestFile file_ = make_file(200 * 1024, 1);
  PeerScores scores_;
};

}  // namespace synapse::exchange::fetch_testing
