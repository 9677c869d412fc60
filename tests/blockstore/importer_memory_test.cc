// The importer streams: importing 1 GiB needs no more memory than importing 32 MiB.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "synapse/blockstore/importer.h"
#include "synapse/core/rng.h"

namespace synapse::blockstore {
namespace {

// Random bytes, produced quickly, `size` of them.
class RandomFile final : public core::SequentialFile {
 public:
  RandomFile(uint64_t size, uint64_t seed) : left_(size), rng_(seed) {}
  core::Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t n = static_cast<size_t>(std::min<uint64_t>(buffer.size(), left_));
    rng_.fill(buffer.subspan(0, n));
    left_ -= n;
    return n;
  }
  std::optional<uint64_t> size_hint() const override { return std::nullopt; }

 private:
  uint64_t left_;
  core::SeededRng rng_;
};

// Accepts every block and keeps none, so only the importer's own memory is measured.
class DiscardingStore final : public BlockStore {
 public:
  core::Result<size_t> put_many(std::span<const Block> blocks) override { return blocks.size(); }
  core::Result<core::Bytes> get(const crypto::Cid&) override { return unsupported(); }
  core::Result<bool> has(const crypto::Cid&) override { return false; }
  core::Result<uint64_t> size(const crypto::Cid&) override { return unsupported(); }
  core::Result<uint64_t> references(const crypto::Cid&) override { return 0; }
  core::Status remove(const crypto::Cid&) override { return core::ok(); }
  core::Status for_each(const std::function<bool(const crypto::Cid&, uint64_t)>&) override {
    return core::ok();
  }
  core::Status pin(const crypto::Cid&) override { return core::ok(); }
  core::Status unpin(const crypto::Cid&) override { return core::ok(); }
  core::Result<std::vector<PinInfo>> pins() override { return std::vector<PinInfo>{}; }
  core::Result<GcResult> gc() override { return GcResult{}; }
  core::Result<VerifyResult> verify() override { return VerifyResult{}; }
  core::Result<StoreStats> stats() override { return StoreStats{}; }

 private:
  static tl::unexpected<core::Error> unsupported() {
    return core::make_error(core::ErrorCode::kUnsupported, "discarding store");
  }
};

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(ImporterMemory, ImportingAGibibyteNeedsNoMoreMemoryThanThirtyTwoMebibytes) {
  DiscardingStore store;
  const ImportOptions options = import_preset("v1-raw-256k").value();
  RandomFile warm_up(32 << 20, 1);
  ASSERT_TRUE(import_file(store, warm_up, options, true));
  const long before = peak_rss_kib();

  RandomFile big(1ull << 30, 2);
  auto result = import_file(store, big, options, true);
  ASSERT_TRUE(result) << result.error().message();
  EXPECT_EQ(result->file_size, 1ull << 30);
  EXPECT_EQ(result->blocks, 4096u + 24u + 1u);  // leaves, 174-link parents, root
  // The importer's chunk buffers are a fixed budget of tokens (a batch plus 8 MiB in flight:
  // 65 chunks of 256 KiB, 16.25 MiB). How much of it the warm-up touched depends on thread
  // scheduling, so the big import may fill the rest; anything that grew with the file would
  // need hundreds of MiB here.
  EXPECT_LT(peak_rss_kib() - before, 20 * 1024) << "peak RSS grew from " << before << " KiB";
}

}  // namespace
}  // namespace synapse::blockstore
