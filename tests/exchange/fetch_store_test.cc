// Fetch and the block store: resuming from what is stored, storing in batches, a full store,
// corrupt stored nodes, DAGs that do not decode.
#include "fetch_harness.h"

namespace synapse::exchange::fetch_testing {
namespace {

TEST_F(FetchTest, AResumedFetchAsksOnlyForTheBlocksTheStoreLacks) {
  // Every other block in pre-order is already stored: the root, some interior nodes, leaves.
  auto dest = copy_of(file_, [](size_t i, const Cid&) { return i % 2 == 0; });
  std::set<Cid> lacking;
  uint64_t held_bytes = 0;
  for (size_t i = 0; i < file_.preorder.size(); ++i) {
    if (i % 2 == 1) {
      lacking.insert(file_.preorder[i]);
    } else {
      held_bytes += file_.store->size(file_.preorder[i]).value();
    }
  }

  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  EXPECT_EQ(fetch.progress().total_bytes, file_.total_bytes);  // known at once: the root is here
  swarm.add(1, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);

  std::multiset<Cid> asked;
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) asked.insert(cid);
  EXPECT_EQ(swarm.total_wants(), lacking.size());
  EXPECT_EQ(asked, std::multiset<Cid>(lacking.begin(), lacking.end()));

  const FetchProgress& progress = fetch.progress();
  EXPECT_EQ(progress.total_bytes, file_.total_bytes);
  EXPECT_EQ(progress.local_bytes + progress.fetched_bytes, progress.total_bytes);
  EXPECT_EQ(progress.local_bytes, held_bytes);
  EXPECT_EQ(progress.local_blocks, file_.preorder.size() - lacking.size());
  EXPECT_EQ(progress.fetched_blocks, lacking.size());
}

TEST_F(FetchTest, AFetchInterruptedHalfwayResumesWithTheSecondHalf) {
  // The first half of the file (and the nodes above it) arrived before the interruption.
  const size_t half = file_.preorder.size() / 2;
  auto dest = copy_of(file_, [&](size_t i, const Cid&) { return i < half; });
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_));
  swarm.add(2, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  std::set<Cid> asked;
  for (uint8_t n : {1, 2}) {
    for (const auto& [cid, when] : swarm.provider(node(n)).asked) asked.insert(cid);
  }
  EXPECT_EQ(asked, std::set<Cid>(file_.preorder.begin() + half, file_.preorder.end()));
  EXPECT_EQ(fetch.progress().local_blocks, half);
  EXPECT_EQ(fetch.progress().local_bytes + fetch.progress().fetched_bytes, file_.total_bytes);
}

TEST_F(FetchTest, OnlyAMissingRootIsFetchedWhenEverythingBelowItIsStored) {
  auto dest = copy_of(file_, [](size_t i, const Cid&) { return i != 0; });
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  EXPECT_EQ(fetch.progress().total_bytes, 0u);  // unknown until the root arrives
  swarm.add(1, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  EXPECT_EQ(swarm.total_wants(), 1u);
  EXPECT_EQ(fetch.progress().fetched_blocks, 1u);
  EXPECT_EQ(fetch.progress().local_blocks, file_.preorder.size() - 1);
  EXPECT_EQ(fetch.progress().total_bytes, file_.total_bytes);
  EXPECT_EQ(fetch.progress().local_bytes + fetch.progress().fetched_bytes, file_.total_bytes);
  expect_file_intact(*dest, file_);
}

TEST_F(FetchTest, AFileThatIsAllStoredFinishesAtStartWithoutWants) {
  auto dest = full_copy(file_);
  Fetch fetch(file_.root, *dest, scores_);
  fetch.start(kStart);
  ASSERT_TRUE(fetch.finished());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  fetch.add_provider(node(1), kStart);
  const Fetch::Outgoing out = fetch.take_outgoing(kStart);
  EXPECT_TRUE(out.wants.empty());
  EXPECT_TRUE(out.cancels.empty());
  EXPECT_EQ(fetch.next_timer(), core::MonoTime::max());
  EXPECT_EQ(fetch.progress().local_blocks, file_.preorder.size());
  EXPECT_EQ(fetch.progress().local_bytes, file_.total_bytes);
  EXPECT_EQ(fetch.progress().total_bytes, file_.total_bytes);
  EXPECT_EQ(fetch.progress().fetched_blocks, 0u);
  EXPECT_EQ(fetch.progress().fetched_bytes, 0u);
}

TEST_F(FetchTest, AOneBlockFileIsFetchedWithOneWant) {
  TestFile small = make_file(700, 2);
  ASSERT_EQ(small.preorder.size(), 1u);
  ASSERT_EQ(small.root.codec(), crypto::Codec::kRaw);
  auto dest = blockstore::make_memory_store();
  Fetch fetch(small.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(small));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  EXPECT_EQ(swarm.total_wants(), 1u);
  EXPECT_EQ(fetch.progress().total_bytes, 700u);
  EXPECT_EQ(fetch.progress().fetched_bytes, 700u);
  EXPECT_EQ(dest->get(small.root).value(), small.content);
}

TEST_F(FetchTest, CorruptStoredNodesAreFetchedAgain) {
  auto dest = full_copy(file_);
  // Bit rot in the root and in an interior node below it.
  const Cid interior = file_.preorder[1];
  ASSERT_EQ(interior.codec(), crypto::Codec::kDagPb);
  for (const Cid& cid : {file_.root, interior}) {
    Bytes rotten = file_.block(cid);
    rotten[rotten.size() / 2] ^= 1;
    blockstore::corrupt_memory_block_for_test(*dest, cid, rotten);
  }
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  std::set<Cid> asked;
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) asked.insert(cid);
  EXPECT_EQ(asked, (std::set<Cid>{file_.root, interior}));
  EXPECT_EQ(fetch.progress().local_bytes + fetch.progress().fetched_bytes, file_.total_bytes);
  expect_file_intact(*dest, file_);
}

TEST_F(FetchTest, VerifiedBlocksAreStoredInBatchesDuringTheFetch) {
  FetchOptions options;
  options.flush_bytes = 16 * 1024;
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_));
  bool stored_before_the_end = false;
  while (!fetch.finished() && swarm.rounds < 5000) {
    swarm.round();
    const uint64_t stored = dest->stats().value().bytes;
    if (!fetch.finished() && stored > 0) stored_before_the_end = true;
    // Never more than one batch behind what was verified.
    EXPECT_LE(fetch.progress().fetched_bytes - stored, options.flush_bytes + 1024);
  }
  ASSERT_TRUE(fetch.finished());
  EXPECT_TRUE(stored_before_the_end);
  EXPECT_EQ(dest->stats().value().bytes, file_.total_bytes);
}

TEST_F(FetchTest, AStoreThatFillsUpFailsTheFetchWithStoreFull) {
  FetchOptions options;
  options.flush_bytes = 8 * 1024;
  auto dest = blockstore::make_memory_store(file_.total_bytes / 2);
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_FALSE(fetch.result().has_value());
  EXPECT_EQ(fetch.result().error().code(), core::ErrorCode::kStoreFull);
  // It stops asking once failed.
  EXPECT_TRUE(fetch.take_outgoing(swarm.now).wants.empty());
  EXPECT_EQ(fetch.next_timer(), core::MonoTime::max());
}

// fetch.h: kCorrupt when the DAG does not decode.
TEST_F(FetchTest, ARootThatIsNotADagPbNodeFailsTheFetchWithCorrupt) {
  // A block named as dag-pb whose bytes are not a protobuf node (it hashes right).
  const Bytes garbage = {0xff, 0xff, 0xff, 0x01, 0x02};
  const blockstore::Block bogus = blockstore::Block::make(crypto::Codec::kDagPb, garbage);
  auto provider_store = blockstore::make_memory_store();
  ASSERT_TRUE(provider_store->put(bogus));
  auto dest = blockstore::make_memory_store();
  Fetch fetch(bogus.cid(), *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, std::move(provider_store));
  ASSERT_TRUE(swarm.run());
  ASSERT_FALSE(fetch.result().has_value());
  EXPECT_EQ(fetch.result().error().code(), core::ErrorCode::kCorrupt);
}

}  // namespace
}  // namespace synapse::exchange::fetch_testing
