// A BlockStore decorator that counts reads, so tests can check which blocks an operation touched.
#pragma once

#include <set>

#include "synapse/blockstore/block_store.h"

namespace synapse::testing {

class CountingStore final : public blockstore::BlockStore {
 public:
  explicit CountingStore(blockstore::BlockStore& inner) : inner_(inner) {}

  std::multiset<crypto::Cid> gets;

  core::Result<size_t> put_many(std::span<const blockstore::Block> blocks) override {
    return inner_.put_many(blocks);
  }
  core::Result<core::Bytes> get(const crypto::Cid& cid) override {
    gets.insert(cid);
    return inner_.get(cid);
  }
  core::Result<bool> has(const crypto::Cid& cid) override { return inner_.has(cid); }
  core::Result<uint64_t> size(const crypto::Cid& cid) override { return inner_.size(cid); }
  core::Result<uint64_t> references(const crypto::Cid& cid) override {
    return inner_.references(cid);
  }
  core::Status remove(const crypto::Cid& cid) override { return inner_.remove(cid); }
  core::Status for_each(const std::function<bool(const crypto::Cid&, uint64_t)>& visit) override {
    return inner_.for_each(visit);
  }
  core::Status pin(const crypto::Cid& root) override { return inner_.pin(root); }
  core::Status unpin(const crypto::Cid& root) override { return inner_.unpin(root); }
  core::Result<std::vector<blockstore::PinInfo>> pins() override { return inner_.pins(); }
  core::Result<blockstore::GcResult> gc() override { return inner_.gc(); }
  core::Result<blockstore::VerifyResult> verify() override { return inner_.verify(); }
  core::Result<blockstore::StoreStats> stats() override { return inner_.stats(); }

 private:
  blockstore::BlockStore& inner_;
};

}  // namespace synapse::testing
