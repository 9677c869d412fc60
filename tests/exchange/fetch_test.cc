// Fetch against simulated providers: spreading blocks over them, corrupt and silent providers,
// timeouts, slow and fast providers, file order.
#include "fetch_harness.h"

namespace synapse::exchange::fetch_testing {
namespace {

TEST_F(FetchTest, TestFileHasSeveralLevelsAndManyBlocks) {
  EXPECT_EQ(file_.preorder.front(), file_.root);
  EXPECT_GT(file_.preorder.size(), 250u);
  std::set<Cid> distinct(file_.preorder.begin(), file_.preorder.end());
  EXPECT_EQ(distinct.size(), file_.preorder.size());
}

TEST_F(FetchTest, ThreeProvidersCompleteTheFileAndEachDeliversSomeBlocks) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  ASSERT_FALSE(fetch.finished());
  for (uint8_t n = 1; n <= 3; ++n) swarm.add(n, full_copy(file_));

  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  EXPECT_EQ(dest->stats().value().blocks, file_.preorder.size());

  const FetchProgress& progress = fetch.progress();
  EXPECT_EQ(progress.total_bytes, file_.total_bytes);
  EXPECT_EQ(progress.fetched_bytes, file_.total_bytes);
  EXPECT_EQ(progress.fetched_blocks, file_.preorder.size());
  EXPECT_EQ(progress.local_bytes, 0u);
  EXPECT_EQ(progress.local_blocks, 0u);
  EXPECT_EQ(progress.bad_blocks, 0u);
  EXPECT_EQ(progress.providers, 3u);
  EXPECT_EQ(progress.providers_used, 3u);
  for (uint8_t n = 1; n <= 3; ++n) {
    SimProvider& p = swarm.provider(node(n));
    EXPECT_GT(p.blocks_sent, 0u) << "provider " << int{n};
    const PeerRecord* record = scores_.find(node(n));
    ASSERT_NE(record, nullptr);
    EXPECT_GT(record->blocks_received, 0u) << "provider " << int{n};
    EXPECT_EQ(record->bad_blocks, 0u);
  }
  // Every block was verified once; any copy beyond that was an end-game duplicate.
  uint64_t sent = 0;
  for (uint8_t n = 1; n <= 3; ++n) sent += swarm.provider(node(n)).blocks_sent;
  EXPECT_EQ(sent, progress.fetched_blocks + progress.duplicate_blocks);
  EXPECT_EQ(fetch.next_timer(), core::MonoTime::max());
  EXPECT_TRUE(fetch.take_outgoing(swarm.now).wants.empty());
}

TEST_F(FetchTest, ACorruptingProviderIsScoredDownAndTheFileStillArrivesIntact) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  // The corrupting provider sorts first, so that it is asked before the honest ones.
  swarm.add(1, full_copy(file_), Behaviour::kCorrupt);
  swarm.add(2, full_copy(file_));
  swarm.add(3, full_copy(file_));

  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  EXPECT_GT(swarm.provider(node(1)).blocks_sent, 0u);
  EXPECT_GT(fetch.progress().bad_blocks, 0u);
  EXPECT_EQ(fetch.progress().fetched_blocks, file_.preorder.size());

  const PeerRecord* bad = scores_.find(node(1));
  ASSERT_NE(bad, nullptr);
  EXPECT_EQ(bad->bad_blocks, fetch.progress().bad_blocks);
  EXPECT_EQ(bad->blocks_received, 0u);
  for (uint8_t honest : {2, 3}) {
    EXPECT_LT(scores_.score(node(1)), scores_.score(node(honest)));
    EXPECT_EQ(scores_.find(node(honest))->bad_blocks, 0u);
  }
  EXPECT_TRUE(scores_.backed_off(node(1), swarm.now));
  // A block a provider sent corrupt is never asked of that provider again.
  std::map<Cid, int> asks;
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) ++asks[cid];
  for (const auto& [cid, count] : asks) EXPECT_EQ(count, 1) << cid.to_string();
}

TEST_F(FetchTest, AProviderThatSentThreeCorruptBlocksIsDroppedFromTheFetch) {
  // Interior nodes stored: the 200 leaves are asked at once, many of them of the corrupter.
  auto dest =
      copy_of(file_, [](size_t, const Cid& cid) { return cid.codec() == crypto::Codec::kDagPb; });
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_), Behaviour::kCorrupt);
  swarm.add(2, full_copy(file_));
  swarm.round();
  const size_t asked_of_corrupter = swarm.provider(node(1)).asked.size();
  ASSERT_GE(asked_of_corrupter, 4u);
  EXPECT_EQ(fetch.progress().providers, 2u);

  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  EXPECT_EQ(fetch.progress().bad_blocks, FetchOptions{}.max_bad_blocks_per_provider);
  EXPECT_EQ(fetch.progress().providers, 1u);
  EXPECT_EQ(fetch.progress().providers_used, 1u);
  EXPECT_EQ(swarm.provider(node(1)).asked.size(), asked_of_corrupter);  // never asked again
  // What it had been asked for came from the honest provider instead.
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) {
    EXPECT_TRUE(swarm.provider(node(2)).was_asked(cid)) << cid.to_string();
  }
}

TEST_F(FetchTest, ABlockAskedOfASilentProviderIsAskedOfAnotherAfterTheRequestTimeout) {
  FetchOptions options;
  options.min_window = 2;
  options.max_window = 2;  // the honest provider stays busy: no end game before the timeout
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch, 1s);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_), Behaviour::kSilent);
  swarm.add(2, full_copy(file_));
  // Run until the silent provider holds a block nobody else was asked for.
  std::optional<std::pair<Cid, core::MonoTime>> stuck;
  for (int i = 0; i < 10 && !stuck; ++i) {
    swarm.round();
    for (const auto& [cid, when] : swarm.provider(node(1)).asked) {
      if (!swarm.provider(node(2)).was_asked(cid)) stuck.emplace(cid, when);
    }
  }
  ASSERT_TRUE(stuck.has_value());
  const auto [cid, sent] = *stuck;
  EXPECT_LE(fetch.next_timer(), sent + options.request_timeout);

  // Before the timeout it is not asked elsewhere (the honest provider has no free slot) ...
  while (swarm.now + 1s < sent + options.request_timeout) {
    swarm.round();
    ASSERT_FALSE(fetch.finished());
  }
  EXPECT_FALSE(swarm.provider(node(2)).was_asked(cid));
  EXPECT_EQ(scores_.find(node(1)), nullptr);
  // ... once it passed, the silent provider is charged a failure, told to cancel, and the
  // block is asked of the other provider.
  swarm.round();
  ASSERT_EQ(swarm.now, sent + options.request_timeout);
  const SimProvider& silent = swarm.provider(node(1));
  EXPECT_NE(std::find(silent.cancelled.begin(), silent.cancelled.end(), cid),
            silent.cancelled.end());
  ASSERT_NE(scores_.find(node(1)), nullptr);
  EXPECT_GE(scores_.find(node(1))->failures, 1u);
  EXPECT_TRUE(swarm.provider(node(2)).was_asked(cid));

  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  EXPECT_EQ(swarm.provider(node(1)).blocks_sent, 0u);
  EXPECT_EQ(fetch.progress().providers_used, 1u);
  EXPECT_EQ(scores_.find(node(1))->blocks_received, 0u);
  EXPECT_LT(scores_.score(node(1)), scores_.score(node(2)));
}

TEST_F(FetchTest, NextTimerIsDueOneRequestTimeoutAfterTheWant) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  fetch.start(kStart);
  EXPECT_EQ(fetch.next_timer(), core::MonoTime::max());  // nothing asked yet
  fetch.add_provider(node(1), kStart);
  const Fetch::Outgoing out = fetch.take_outgoing(kStart);
  ASSERT_EQ(out.wants.size(), 1u);
  EXPECT_EQ(out.wants[0].cids, std::vector<Cid>{file_.root});
  EXPECT_TRUE(fetch.awaits(node(1), file_.root));
  EXPECT_FALSE(fetch.awaits(node(2), file_.root));
  const core::Duration timeout = FetchOptions{}.request_timeout;
  EXPECT_EQ(fetch.next_timer(), kStart + timeout);

  fetch.on_timer(kStart + timeout - 1ms);  // early: nothing happens
  EXPECT_TRUE(fetch.take_outgoing(kStart + timeout - 1ms).cancels.empty());
  EXPECT_EQ(scores_.find(node(1)), nullptr);
  EXPECT_TRUE(fetch.awaits(node(1), file_.root));

  fetch.on_timer(kStart + timeout);
  EXPECT_FALSE(fetch.awaits(node(1), file_.root));
  const Fetch::Outgoing after = fetch.take_outgoing(kStart + timeout);
  ASSERT_EQ(after.cancels.size(), 1u);
  EXPECT_EQ(after.cancels[0].peer, node(1));
  EXPECT_EQ(after.cancels[0].cids, std::vector<Cid>{file_.root});
  EXPECT_EQ(scores_.find(node(1))->failures, 1u);
  // The only provider is asked again.
  ASSERT_EQ(after.wants.size(), 1u);
  EXPECT_EQ(after.wants[0].cids, std::vector<Cid>{file_.root});
  EXPECT_EQ(fetch.next_timer(), kStart + 2 * timeout);
}

TEST_F(FetchTest, ABlockThatTimesOutMaxAttemptsTimesFailsTheFetchWithIo) {
  auto dest = blockstore::make_memory_store();
  FetchOptions options;
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch, 1s);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_), Behaviour::kSilent);
  ASSERT_TRUE(swarm.run(1000));
  ASSERT_FALSE(fetch.result().has_value());
  EXPECT_EQ(fetch.result().error().code(), core::ErrorCode::kIo);
  // Asked once per attempt (a lone provider is asked even while backed off).
  EXPECT_EQ(swarm.provider(node(1)).asked.size(), options.max_attempts);
  EXPECT_EQ(swarm.now, kStart + options.max_attempts * options.request_timeout);
  EXPECT_EQ(scores_.find(node(1))->failures, options.max_attempts);
}

TEST_F(FetchTest, ABlockTheOnlyProviderLacksFailsTheFetchWithNotFound) {
  // A leaf in the middle of the file.
  const Cid lacking = *std::find_if(
      file_.preorder.begin() + static_cast<ptrdiff_t>(file_.preorder.size() / 2),
      file_.preorder.end(), [](const Cid& cid) { return cid.codec() == crypto::Codec::kRaw; });
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_)).refuse.insert(lacking);
  fetch.no_more_providers(swarm.now);
  ASSERT_TRUE(swarm.run());
  ASSERT_FALSE(fetch.result().has_value());
  EXPECT_EQ(fetch.result().error().code(), core::ErrorCode::kNotFound);
  EXPECT_NE(fetch.result().error().message().find(lacking.to_string()), std::string::npos)
      << fetch.result().error().message();
  // Asked once: a provider that answered "missing" is not asked again.
  const SimProvider& p = swarm.provider(node(1));
  EXPECT_EQ(std::count_if(p.asked.begin(), p.asked.end(),
                          [&](const auto& a) { return a.first == lacking; }),
            1);
  // Every verified block was kept, so that a later fetch resumes.
  for (const Cid& cid : file_.preorder) {
    EXPECT_EQ(dest->has(cid).value(), cid != lacking) << cid.to_string();
  }
}

TEST_F(FetchTest, ABlockNobodyHasWaitsForMoreProvidersUntilNoMoreAreComing) {
  const Cid lacking = file_.preorder.back();
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_)).refuse.insert(lacking);
  EXPECT_FALSE(swarm.run(500));  // waits: another provider may still come
  EXPECT_EQ(fetch.progress().fetched_blocks, file_.preorder.size() - 1);
  EXPECT_EQ(fetch.next_timer(), core::MonoTime::max());
  // One that has it arrives.
  swarm.add(2, full_copy(file_));
  fetch.no_more_providers(swarm.now);
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
}

// A backed-off provider is still asked when the providers that are not backed off refused
// every block left: giving up with kNotFound would lose a provider that has the block.
TEST_F(FetchTest, ABlockRefusedByOneProviderIsAskedOfABackedOffOneBeforeGivingUp) {
  TestFile small = make_file(700, 3);
  // Provider 1 failed three times in a row in an earlier fetch: backed off for a second.
  for (int i = 0; i < 3; ++i) scores_.on_failure(node(1), kStart);
  ASSERT_TRUE(scores_.backed_off(node(1), kStart));
  auto dest = blockstore::make_memory_store();
  Fetch fetch(small.root, *dest, scores_);
  Swarm swarm(fetch, 100ms);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(small));
  swarm.add(2, full_copy(small)).refuse.insert(small.root);
  fetch.no_more_providers(swarm.now);
  ASSERT_TRUE(swarm.run(100));
  EXPECT_TRUE(fetch.result().has_value())
      << fetch.result().error().message() << " after " << (swarm.now - kStart) / 1ms << " ms";
  EXPECT_TRUE(swarm.provider(node(1)).was_asked(small.root));
}

TEST_F(FetchTest, AFetchWithoutProvidersFailsWithNotFoundOnceNoMoreAreComing) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  fetch.start(kStart);
  EXPECT_TRUE(fetch.take_outgoing(kStart).wants.empty());
  EXPECT_FALSE(fetch.finished());
  fetch.no_more_providers(kStart);
  (void)fetch.take_outgoing(kStart);
  ASSERT_TRUE(fetch.finished());
  ASSERT_FALSE(fetch.result().has_value());
  EXPECT_EQ(fetch.result().error().code(), core::ErrorCode::kNotFound);
}

TEST_F(FetchTest, AFastProviderDeliversMoreBlocksThanASlowOne) {
  // Interior nodes stored: all 200 leaves are queued from the start, so windows decide.
  auto dest =
      copy_of(file_, [](size_t, const Cid& cid) { return cid.codec() == crypto::Codec::kDagPb; });
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_)).answer_every = 3;  // slow: sorts first, answers every 3rd round
  swarm.add(2, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);

  ASSERT_NE(scores_.find(node(1)), nullptr);
  const size_t slow = scores_.find(node(1))->blocks_received;
  const size_t fast = scores_.find(node(2))->blocks_received;
  EXPECT_EQ(slow + fast, fetch.progress().fetched_blocks);
  EXPECT_GT(slow, 0u);
  EXPECT_GT(fast, 2 * slow) << "fast " << fast << ", slow " << slow;
  EXPECT_GT(scores_.score(node(2)), scores_.score(node(1)));
  EXPECT_GE(scores_.window(node(2), 4, 64), scores_.window(node(1), 4, 64));
}

TEST_F(FetchTest, AProviderAnsweringOnlyEveryTenthRoundDeliversLittle) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_)).answer_every = 10;  // sorts first, answers rarely
  swarm.add(2, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  const size_t slow = scores_.find(node(1)) ? scores_.find(node(1))->blocks_received : 0;
  const size_t fast = scores_.find(node(2))->blocks_received;
  EXPECT_EQ(slow + fast, file_.preorder.size());
  EXPECT_GT(fast, 4 * slow) << "fast " << fast << ", slow " << slow;
  // Its blocks were asked of the fast one too (end game) and its copies cancelled.
  EXPECT_FALSE(swarm.provider(node(1)).cancelled.empty());
}

TEST_F(FetchTest, FetchesWithMoreProvidersFinishInFewerRounds) {
  int rounds[2] = {0, 0};
  for (int providers : {1, 3}) {
    auto dest = blockstore::make_memory_store();
    PeerScores scores;
    FetchOptions options;
    options.max_window = 8;
    Fetch fetch(file_.root, *dest, scores, options);
    Swarm swarm(fetch);
    fetch.start(swarm.now);
    for (int n = 1; n <= providers; ++n) {
      swarm.add(static_cast<uint8_t>(n), full_copy(file_)).answer_every = 2;
    }
    ASSERT_TRUE(swarm.run());
    ASSERT_TRUE(fetch.result().has_value());
    rounds[providers == 1 ? 0 : 1] = swarm.rounds;
  }
  EXPECT_LT(rounds[1] * 3, rounds[0] * 2) << rounds[0] << " vs " << rounds[1];
}

TEST_F(FetchTest, BlocksAreAskedInFileOrder) {
  // One block in flight at a time: the wants are exactly the DAG's pre-order.
  FetchOptions options;
  options.min_window = 1;
  options.max_window = 1;
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  std::vector<Cid> asked;
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) asked.push_back(cid);
  EXPECT_EQ(asked, file_.preorder);
  // The first leaf asked holds the file's first bytes.
  auto first_leaf = std::find_if(asked.begin(), asked.end(),
                                 [](const Cid& c) { return c.codec() == crypto::Codec::kRaw; });
  ASSERT_NE(first_leaf, asked.end());
  EXPECT_EQ(file_.block(*first_leaf), Bytes(file_.content.begin(), file_.content.begin() + 1024));
}

TEST_F(FetchTest, EachRoundAsksForTheLowestOffsetsFirst) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  for (uint8_t n = 1; n <= 3; ++n) swarm.add(n, full_copy(file_));
  std::map<Cid, size_t> position;
  for (size_t i = 0; i < file_.preorder.size(); ++i) position[file_.preorder[i]] = i;

  swarm.round();
  ASSERT_FALSE(swarm.wants.empty());
  EXPECT_EQ(swarm.wants[0].cids, std::vector<Cid>{file_.root});  // the root comes first

  // Within a round, blocks asked for the first time go out in file order.
  std::set<Cid> seen;
  size_t first_of_round = 0;
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  size_t request = 0;
  for (size_t count : swarm.wants_per_round) {
    std::vector<size_t> fresh;
    for (size_t taken = 0; taken < count; ++request) {
      for (const Cid& cid : swarm.wants[request].cids) {
        if (seen.insert(cid).second) fresh.push_back(position.at(cid));
      }
      taken += swarm.wants[request].cids.size();
    }
    EXPECT_TRUE(std::is_sorted(fresh.begin(), fresh.end())) << "round from " << first_of_round;
    first_of_round += count;
  }
  // After the root, the first blocks asked are the root's children, in order (the beginning
  // of the file).
  auto root = blockstore::decode_pb_node(file_.block(file_.root)).value();
  std::vector<Cid> children;
  for (const auto& link : root.links) children.push_back(link.cid);
  std::vector<Cid> next;
  for (const Fetch::Request& want : swarm.wants) {
    for (const Cid& cid : want.cids) {
      if (cid != file_.root && next.size() < children.size() &&
          std::find(next.begin(), next.end(), cid) == next.end()) {
        next.push_back(cid);
      }
    }
  }
  EXPECT_EQ(next, children);
}

TEST_F(FetchTest, ABrokenProvidersBlocksAreAskedOfAnother) {
  FetchOptions options;
  options.min_window = 2;
  options.max_window = 2;  // no end game while the file is being fetched
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_, options);
  Swarm swarm(fetch);
  fetch.start(swarm.now);
  swarm.add(1, full_copy(file_), Behaviour::kSilent);
  swarm.add(2, full_copy(file_));
  for (int i = 0; i < 4; ++i) swarm.round();
  std::vector<Cid> held;  // asked of the silent provider only
  for (const auto& [cid, when] : swarm.provider(node(1)).asked) {
    if (fetch.awaits(node(1), cid) && !fetch.awaits(node(2), cid)) held.push_back(cid);
  }
  ASSERT_FALSE(held.empty());
  fetch.remove_provider(node(1), swarm.now);
  EXPECT_EQ(fetch.progress().providers, 1u);
  for (const Cid& cid : held) EXPECT_FALSE(fetch.awaits(node(1), cid));
  swarm.round();
  for (const Cid& cid : held) EXPECT_TRUE(swarm.provider(node(2)).was_asked(cid));
  ASSERT_TRUE(swarm.run());
  ASSERT_TRUE(fetch.result().has_value()) << fetch.result().error().message();
  expect_file_intact(*dest, file_);
  // Within one timeout: nobody waited for the gone provider.
  EXPECT_LT(swarm.now, kStart + options.request_timeout);
}

TEST_F(FetchTest, BlocksNobodyAskedForAreIgnored) {
  auto dest = blockstore::make_memory_store();
  Fetch fetch(file_.root, *dest, scores_);
  fetch.start(kStart);
  fetch.add_provider(node(1), kStart);
  const Fetch::Outgoing out = fetch.take_outgoing(kStart);
  ASSERT_EQ(out.wants.size(), 1u);
  fetch.add_provider(node(2), kStart);
  // The root from a provider it was not asked of, and a block not wanted (yet) at all.
  EXPECT_FALSE(fetch.awaits(node(2), file_.root));
  fetch.on_block(node(2), file_.root, file_.block(file_.root), kStart + 1ms);
  EXPECT_EQ(fetch.progress().fetched_blocks, 0u);
  EXPECT_EQ(scores_.find(node(2)), nullptr);
  fetch.on_block(node(1), file_.preorder[5], file_.block(file_.preorder[5]), kStart + 1ms);
  EXPECT_EQ(fetch.progress().fetched_blocks, 0u);
  EXPECT_EQ(fetch.progress().bad_blocks, 0u);
  EXPECT_FALSE(dest->has(file_.preorder[5]).value());
  EXPECT_TRUE(fetch.awaits(node(1), file_.root));
  fetch.on_block(node(1), file_.root, file_.block(file_.root), kStart + 2ms);
  EXPECT_EQ(fetch.progress().fetched_blocks, 1u);
}

}  // namespace
}  // namespace synapse::exchange::fetch_testing
