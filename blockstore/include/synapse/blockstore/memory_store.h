// An in-memory BlockStore with the same contract as the LMDB one (minus durability), for tests.
#pragma once

#include <memory>

#include "synapse/blockstore/block_store.h"

namespace synapse::blockstore {

class MemoryStore;

std::unique_ptr<BlockStore> make_memory_store(uint64_t capacity = UINT64_MAX);

// Test hook: overwrites the stored bytes of `cid` with `bytes` without updating anything else,
// to simulate bit rot. `store` must come from make_memory_store.
void corrupt_memory_block_for_test(BlockStore& store, const crypto::Cid& cid, core::Bytes bytes);

}  // namespace synapse::blockstore
