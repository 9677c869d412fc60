// kill -9 at any point leaves an LMDB store that opens, verifies, and holds every acknowledged
// effect. Each round forks a child that works on the store and reports every operation before
// it starts ("intent") and after it returned successfully ("ack") through a pipe; the parent
// SIGKILLs it after a random short time, reopens the store and checks it against what was
// acknowledged. The store and the parent's model carry over from round to round, so later
// rounds also recover from earlier kills.
//
// Replay a failure with SYNAPSE_SEED=<seed printed in the failure>.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "synapse/blockstore/block.h"
#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/lmdb_store.h"
#include "synapse/core/rng.h"
#include "test_util.h"

namespace synapse::blockstore {
namespace {

using crypto::Cid;
using crypto::Codec;

constexpr int kRounds = 200;
constexpr uint64_t kCapacity = 24ull << 20;  // keeps verify() of each round cheap
constexpr size_t kMaxBlock = 300 * 1024;

// Records on the pipe: [kind][op][count: uint16][count CIDs as 36-byte CIDv1 binary]. Every
// record is written with one write() of at most PIPE_BUF bytes, so it arrives whole or not at
// all.
enum Kind : uint8_t { kIntent = 'I', kAck = 'A', kError = 'E' };
enum Op : uint8_t { kPut = 'p', kPin = 'n', kUnpin = 'u', kGc = 'g', kRemove = 'r' };
constexpr size_t kCidSize = 36;
constexpr size_t kMaxBatch = 8;
constexpr size_t kMaxCids = 64;  // 64 * 36 + 4 < PIPE_BUF

void send(int fd, Kind kind, Op op, const std::vector<Cid>& cids) {
  uint8_t buffer[4 + kMaxCids * kCidSize];
  size_t count = std::min(cids.size(), kMaxCids);
  buffer[0] = kind;
  buffer[1] = op;
  buffer[2] = static_cast<uint8_t>(count);
  buffer[3] = static_cast<uint8_t>(count >> 8);
  size_t size = 4;
  for (size_t i = 0; i < count; ++i) {
    core::Bytes bytes = cids[i].to_v1().to_bytes();
    std::memcpy(buffer + size, bytes.data(), kCidSize);
    size += kCidSize;
  }
  if (::write(fd, buffer, size) != static_cast<ssize_t>(size)) ::_exit(5);
}

void fail_child(int fd, const std::string& message) {
  // The message travels as an error record with no CIDs; the exit code tells the rest.
  send(fd, kError, kPut, {});
  std::fprintf(stderr, "crash child: %s\n", message.c_str());
  ::_exit(3);
}

Block random_raw(core::SeededRng& rng, size_t max_size) {
  const size_t size = 1 + rng.next() % max_size;
  return Block::make(Codec::kRaw, testing::random_bytes(rng, size));
}

// The child: works on the store until killed.
[[noreturn]] void child_main(const std::filesystem::path& folder, uint64_t seed, bool sync,
                             int fd) {
  core::SeededRng rng(seed);
  auto opened = open_lmdb_store(folder, {.capacity = kCapacity, .sync = sync});
  if (!opened) fail_child(fd, "open: " + opened.error().message());
  BlockStore& store = **opened;
  auto existing = store.pins();
  if (!existing) fail_child(fd, "pins: " + existing.error().message());
  std::vector<Cid> pinned;
  for (const PinInfo& pin : *existing) pinned.push_back(pin.root);
  std::vector<Cid> loose;  // raw blocks put by this child, never linked from a DAG

  for (;;) {
    const uint64_t choice = rng.next() % 100;
    if (choice < 55) {
      std::vector<Block> batch;
      const size_t n = choice < 30 ? 1 : 2 + rng.next() % (kMaxBatch - 1);
      for (size_t i = 0; i < n; ++i) batch.push_back(random_raw(rng, kMaxBlock));
      if (n > 1 && !loose.empty()) batch.push_back(Block::make(Codec::kRaw, {}));  // a duplicate
      std::vector<Cid> cids;
      for (const Block& block : batch) cids.push_back(block.cid());
      send(fd, kIntent, kPut, cids);
      auto added = store.put_many(batch);
      if (!added && added.error().code() == core::ErrorCode::kStoreFull) continue;
      if (!added) fail_child(fd, "put_many: " + added.error().message());
      send(fd, kAck, kPut, cids);
      loose.insert(loose.end(), cids.begin(), cids.end());
    } else if (choice < 72) {
      // A small DAG: a root over 1-3 interior nodes over raw leaves.
      std::vector<Block> blocks;
      PbNode root_node;
      const size_t interior = 1 + rng.next() % 3;
      for (size_t i = 0; i < interior; ++i) {
        PbNode node;
        const size_t leaves = 1 + rng.next() % 6;
        for (size_t j = 0; j < leaves; ++j) {
          blocks.push_back(random_raw(rng, 4096));
          node.links.push_back(PbLink{.cid = blocks.back().cid()});
        }
        node.data = testing::random_bytes(rng, 16);
        blocks.push_back(Block::make(Codec::kDagPb, encode_pb_node(node), rng.next() % 2));
        root_node.links.push_back(PbLink{.cid = blocks.back().cid()});
      }
      root_node.data = testing::random_bytes(rng, 16);
      blocks.push_back(Block::make(Codec::kDagPb, encode_pb_node(root_node)));
      const Cid root = blocks.back().cid();
      std::vector<Cid> cids;
      for (const Block& block : blocks) cids.push_back(block.cid());
      send(fd, kIntent, kPut, cids);
      auto added = store.put_many(blocks);
      if (!added && added.error().code() == core::ErrorCode::kStoreFull) continue;
      if (!added) fail_child(fd, "put_many: " + added.error().message());
      send(fd, kAck, kPut, cids);
      send(fd, kIntent, kPin, {root});
      if (auto pin = store.pin(root); !pin) fail_child(fd, "pin: " + pin.error().message());
      send(fd, kAck, kPin, {root});
      pinned.push_back(root);
    } else if (choice < 85) {
      if (pinned.empty()) continue;
      const size_t i = rng.next() % pinned.size();
      const Cid root = pinned[i];
      send(fd, kIntent, kUnpin, {root});
      if (auto unpin = store.unpin(root); !unpin) {
        fail_child(fd, "unpin: " + unpin.error().message());
      }
      send(fd, kAck, kUnpin, {root});
      pinned.erase(pinned.begin() + static_cast<ptrdiff_t>(i));
    } else if (choice < 93) {
      if (loose.empty()) continue;
      const size_t i = rng.next() % loose.size();
      const Cid cid = loose[i];
      loose.erase(loose.begin() + static_cast<ptrdiff_t>(i));
      send(fd, kIntent, kRemove, {cid});
      auto removed = store.remove(cid);
      if (!removed && removed.error().code() != core::ErrorCode::kNotFound) {
        fail_child(fd, "remove: " + removed.error().message());
      }
      send(fd, kAck, kRemove, {cid});
    } else {
      send(fd, kIntent, kGc, {});
      if (auto gc = store.gc(); !gc) fail_child(fd, "gc: " + gc.error().message());
      send(fd, kAck, kGc, {});
      loose.clear();
    }
  }
}

// What the parent knows from the acknowledgements.
struct Model {
  std::set<Cid> present;                 // must be stored (CIDv1)
  std::map<Cid, uint64_t> pins;          // root (CIDv1) -> pin count
  std::map<Cid, std::vector<Cid>> dags;  // root -> every block of its DAG (CIDv1)
  std::vector<Cid> last_put;             // blocks of the last acknowledged put
  std::optional<std::pair<Op, Cid>> in_flight;
  uint64_t acknowledged_ops = 0;

  // Blocks of DAGs that are pinned now.
  std::set<Cid> protected_blocks() const {
    std::set<Cid> out;
    for (const auto& [root, count] : pins) {
      if (count == 0) continue;
      auto dag = dags.find(root);
      if (dag != dags.end()) out.insert(dag->second.begin(), dag->second.end());
    }
    return out;
  }

  void apply(Kind kind, Op op, const std::vector<Cid>& cids) {
    const Cid first = cids.empty() ? Cid::v1(Codec::kRaw, {}) : cids[0];
    if (kind == kIntent) {
      in_flight = std::pair{op, first};
      if (op == kGc) {
        std::set<Cid> keep = protected_blocks();
        std::erase_if(present, [&](const Cid& cid) { return !keep.contains(cid); });
      } else if (op == kRemove) {
        present.erase(first);
      }
      return;
    }
    in_flight.reset();
    ++acknowledged_ops;
    if (op == kPut) {
      present.insert(cids.begin(), cids.end());
      last_put = cids;
    } else if (op == kPin) {
      ++pins[first];
      dags[first] = last_put;
    } else if (op == kUnpin) {
      if (--pins[first] == 0) pins.erase(first);
    }
  }
};

uint64_t seed_from_env() {
  const char* text = std::getenv("SYNAPSE_SEED");
  if (text != nullptr && *text != '\0') return std::strtoull(text, nullptr, 0);
  return 0xc0ffee;
}

// Reads whole records from `fd` into `model` until `deadline` (or EOF). Returns false on EOF.
bool pump(int fd, Model& model, std::vector<uint8_t>& pending, bool& child_error,
          std::optional<std::chrono::steady_clock::time_point> deadline) {
  for (;;) {
    int timeout_ms = -1;
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::microseconds>(
          *deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      timespec ts{static_cast<time_t>(left.count() / 1000000),
                  static_cast<long>(left.count() % 1000000) * 1000};
      pollfd pfd{fd, POLLIN, 0};
      int ready = ::ppoll(&pfd, 1, &ts, nullptr);
      if (ready == 0) return true;
      if (ready < 0) {
        if (errno == EINTR) continue;
        return false;
      }
    } else {
      pollfd pfd{fd, POLLIN, 0};
      if (::poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR) return false;
    }
    uint8_t buffer[65536];
    ssize_t got = ::read(fd, buffer, sizeof(buffer));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    pending.insert(pending.end(), buffer, buffer + got);
    size_t used = 0;
    while (pending.size() - used >= 4) {
      const uint8_t* p = pending.data() + used;
      const size_t count = p[2] | (size_t{p[3]} << 8);
      const size_t size = 4 + count * kCidSize;
      if (pending.size() - used < size) break;
      std::vector<Cid> cids;
      for (size_t i = 0; i < count; ++i) {
        auto cid = Cid::from_bytes(core::ByteView(p + 4 + i * kCidSize, kCidSize));
        if (cid) cids.push_back(*cid);
      }
      if (p[0] == kError)
        child_error = true;
      else
        model.apply(static_cast<Kind>(p[0]), static_cast<Op>(p[1]), cids);
      used += size;
    }
    pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(used));
  }
}

// Collects the DAG below `root` by reading it back; false (with a failure) if incomplete.
void expect_dag_complete(BlockStore& store, const Cid& root, std::set<Cid>& blocks) {
  std::vector<Cid> stack{root};
  while (!stack.empty()) {
    Cid cid = stack.back().to_v1();
    stack.pop_back();
    auto data = store.get(cid);
    ASSERT_TRUE(data) << "block " << cid.to_string() << " of pinned " << root.to_string() << ": "
                      << data.error().message();
    blocks.insert(cid);
    auto links = child_links(cid, *data);
    ASSERT_TRUE(links) << links.error().message();
    stack.insert(stack.end(), links->begin(), links->end());
  }
}

TEST(LmdbCrash, KillNineAtAnyPointLeavesAStoreThatOpensVerifiesAndKeepsEveryAcknowledgedEffect) {
  const uint64_t seed = seed_from_env();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (replay with SYNAPSE_SEED=" + std::to_string(seed) + ")");
  const auto started = std::chrono::steady_clock::now();
  testing::TempDir dir;
  const std::filesystem::path folder = dir.path() / "store";
  core::SeededRng rng(seed);
  Model model;

  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    const uint64_t child_seed = rng.next();
    const bool sync = rng.next() % 4 == 0;
    // Kill delay: right at the start, within the first 2 ms, or anywhere in 0-30 ms.
    const uint64_t pick = rng.next() % 10;
    const auto delay = std::chrono::microseconds(pick == 0  ? 0
                                                 : pick < 4 ? rng.next() % 2000
                                                            : rng.next() % 30000);

    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_main(folder, child_seed, sync, fds[1]);
    }
    ::close(fds[1]);
    std::vector<uint8_t> pending;
    bool child_error = false;
    pump(fds[0], model, pending, child_error, std::chrono::steady_clock::now() + delay);
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    pump(fds[0], model, pending, child_error, std::nullopt);  // what it wrote before dying
    ::close(fds[0]);
    ASSERT_FALSE(child_error) << "the child failed an operation (see its stderr)";
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited with status " << status;

    auto opened = open_lmdb_store(folder, {.capacity = kCapacity, .sync = false});
    ASSERT_TRUE(opened) << opened.error().message();
    BlockStore& store = **opened;

    auto verified = store.verify();
    ASSERT_TRUE(verified) << verified.error().message();
    EXPECT_TRUE(verified->corrupt.empty()) << verified->corrupt.size() << " corrupt blocks";
    EXPECT_EQ(verified->missing, 0u);

    for (const Cid& cid : model.present) {
      auto data = store.get(cid);
      ASSERT_TRUE(data) << "acknowledged block " << cid.to_string() << ": "
                        << data.error().message();
    }

    uint64_t blocks = 0;
    uint64_t bytes = 0;
    ASSERT_TRUE(store.for_each([&](const Cid&, uint64_t size) {
      ++blocks;
      bytes += size;
      return true;
    }));
    auto stats = store.stats();
    ASSERT_TRUE(stats) << stats.error().message();
    EXPECT_EQ(stats->blocks, blocks);
    EXPECT_EQ(stats->bytes, bytes);
    EXPECT_LE(stats->bytes, kCapacity);
    EXPECT_EQ(stats->corrupt_removed, 0u);
    EXPECT_EQ(stats->missing, 0u);

    // Pins: exactly the acknowledged ones, give or take the operation in flight.
    auto pins = store.pins();
    ASSERT_TRUE(pins) << pins.error().message();
    std::map<Cid, uint64_t> actual;
    for (const PinInfo& pin : *pins) actual[pin.root] = pin.count;
    std::map<Cid, uint64_t> expected = model.pins;
    if (model.in_flight && actual != expected) {
      const auto& [op, root] = *model.in_flight;
      if (op == kPin) {
        ++expected[root];
        model.dags[root] = model.last_put;
      } else if (op == kUnpin && --expected[root] == 0) {
        expected.erase(root);
      }
    }
    ASSERT_EQ(actual, expected);
    model.pins = actual;
    EXPECT_EQ(stats->pinned_roots, actual.size());

    // Every pinned DAG is whole, and reference counts are exactly the pins above each block
    // (the DAGs are trees of distinct blocks).
    std::map<Cid, uint64_t> expected_refs;
    for (const auto& [root, count] : actual) {
      std::set<Cid> dag;
      expect_dag_complete(store, root, dag);
      for (const Cid& cid : dag) expected_refs[cid] += count;
    }
    std::vector<Cid> stored;
    ASSERT_TRUE(store.for_each([&](const Cid& cid, uint64_t) {
      stored.push_back(cid);
      return true;
    }));
    for (const Cid& cid : stored) {
      auto refs = store.references(cid);
      ASSERT_TRUE(refs) << refs.error().message();
      auto want = expected_refs.find(cid);
      EXPECT_EQ(*refs, want == expected_refs.end() ? 0 : want->second) << cid.to_string();
    }
    EXPECT_EQ(stats->referenced, expected_refs.size());
    if (HasFailure()) break;
  }

  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("[ crash    ] %d rounds, %llu acknowledged operations, %.1f s\n", kRounds,
              static_cast<unsigned long long>(model.acknowledged_ops), seconds);
}

}  // namespace
}  // namespace synapse::blockstore
