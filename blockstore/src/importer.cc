// The ingest pipeline: a reader thread cuts the input into chunks, worker threads turn chunks
// into leaf blocks (hashing is the expensive part), and the calling thread builds the DAG and
// stores blocks in batches. Chunk buffers are a fixed budget of tokens, so memory stays
// bounded whatever the input size, and buffers of stored raw leaves are reused.
#include "synapse/blockstore/importer.h"

#include <malloc.h>

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace synapse::blockstore {

namespace {

struct Leaf {
  Block block;
  uint64_t chunk_size;
};

class LeafPipeline {
 public:
  LeafPipeline(core::SequentialFile& input, const ImportOptions& options, unsigned workers,
               size_t tokens)
      : input_(input), options_(options), tokens_(tokens) {
    reader_ = std::thread([this] { read_loop(); });
    for (unsigned i = 0; i < workers; ++i) workers_.emplace_back([this] { hash_loop(); });
  }

  ~LeafPipeline() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    changed_.notify_all();
    reader_.join();
    for (auto& worker : workers_) worker.join();
  }

  // The next leaf in input order; nullopt after the last one.
  core::Result<std::optional<Leaf>> next() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] {
      return error_ || done_.contains(next_out_) || (input_ended_ && next_out_ == chunks_read_);
    });
    if (error_) return tl::unexpected(*error_);
    auto it = done_.find(next_out_);
    if (it == done_.end()) return std::nullopt;
    Leaf leaf = std::move(it->second);
    done_.erase(it);
    ++next_out_;
    return leaf;
  }

  // Gives a leaf's chunk token back once the leaf is stored; `buffer` is reused if it is large
  // enough, so a long import allocates its chunk buffers once (no page-zeroing churn).
  void release(core::Bytes buffer) {
    {
      std::lock_guard lock(mu_);
      ++tokens_;
      if (buffer.capacity() >= options_.chunk_size) free_.push_back(std::move(buffer));
    }
    changed_.notify_all();
  }

 private:
  void read_loop() {
    for (uint64_t seq = 0;; ++seq) {
      core::Bytes buffer;
      {
        std::unique_lock lock(mu_);
        changed_.wait(lock, [&] { return stopped_ || tokens_ > 0; });
        if (stopped_) return;
        --tokens_;
        if (!free_.empty()) {
          buffer = std::move(free_.back());
          free_.pop_back();
        }
      }
      buffer.resize(options_.chunk_size);
      auto n = input_.read(buffer);
      std::lock_guard lock(mu_);
      if (!n) {
        error_ = n.error();
        changed_.notify_all();
        return;
      }
      // An empty input is one empty chunk; otherwise an empty read just ends the input.
      const bool last = *n < options_.chunk_size;
      if (*n > 0 || seq == 0) {
        buffer.resize(*n);
        to_hash_.push_back({seq, std::move(buffer)});
        ++chunks_read_;
      }
      if (last) input_ended_ = true;
      changed_.notify_all();
      if (last) return;
    }
  }

  void hash_loop() {
    for (;;) {
      std::pair<uint64_t, core::Bytes> chunk;
      {
        std::unique_lock lock(mu_);
        changed_.wait(lock, [&] { return stopped_ || !to_hash_.empty(); });
        if (stopped_) return;
        chunk = std::move(to_hash_.front());
        to_hash_.pop_front();
      }
      const uint64_t size = chunk.second.size();
      Block block = DagBuilder::make_leaf(options_, std::move(chunk.second));
      {
        std::lock_guard lock(mu_);
        done_.emplace(chunk.first, Leaf{std::move(block), size});
      }
      changed_.notify_all();
    }
  }

  core::SequentialFile& input_;
  const ImportOptions options_;

  std::mutex mu_;
  std::condition_variable changed_;  // any state below changed
  size_t tokens_;
  std::vector<core::Bytes> free_;
  std::deque<std::pair<uint64_t, core::Bytes>> to_hash_;
  std::map<uint64_t, Leaf> done_;
  uint64_t chunks_read_ = 0;
  uint64_t next_out_ = 0;
  bool input_ended_ = false;
  bool stopped_ = false;
  std::optional<core::Error> error_;

  std::thread reader_;
  std::vector<std::thread> workers_;
};

// Stores blocks in batches and remembers which were new, to take them out again on failure.
class BatchWriter {
 public:
  BatchWriter(BlockStore& store, size_t batch_bytes) : store_(store), batch_bytes_(batch_bytes) {}

  bool full() const { return bytes_ >= batch_bytes_; }

  void add(Block block, bool is_leaf) {
    bytes_ += block.data().size();
    batch_.push_back(std::move(block));
    is_leaf_.push_back(is_leaf);
  }

  // Stores the batch in one atomic step; hands each stored leaf's buffer to `leaf_stored`.
  core::Status flush(ImportResult& result, const std::function<void(core::Bytes)>& leaf_stored) {
    for (const Block& block : batch_) {
      SYNAPSE_ASSIGN_OR_RETURN(bool present, store_.has(block.cid()));
      if (!present) added_.push_back(block.cid());
    }
    SYNAPSE_ASSIGN_OR_RETURN(size_t stored, store_.put_many(batch_));
    result.blocks += batch_.size();
    result.new_blocks += stored;
    for (size_t i = 0; i < batch_.size(); ++i) {
      if (is_leaf_[i]) leaf_stored(std::move(batch_[i]).release());
    }
    batch_.clear();
    is_leaf_.clear();
    bytes_ = 0;
    return core::ok();
  }

  // Best effort: removes the blocks this import added, unless something references them by now.
  void roll_back() {
    for (const crypto::Cid& cid : added_) (void)store_.remove(cid);
  }

 private:
  BlockStore& store_;
  const size_t batch_bytes_;
  std::vector<Block> batch_;
  std::vector<bool> is_leaf_;
  size_t bytes_ = 0;
  std::vector<crypto::Cid> added_;
};

// Streams the input into the store; returns the stored DAG (not yet pinned).
core::Result<ImportResult> store_dag(core::SequentialFile& input, const ImportOptions& options,
                                     const ImportCallbacks& callbacks, unsigned threads,
                                     size_t batch_bytes, BatchWriter& writer) {
  // Chunk tokens: a full batch plus 8 MiB (at least two chunks per worker) in flight, so the
  // workers keep hashing while the calling thread waits for a commit.
  const size_t batch_chunks = batch_bytes / options.chunk_size + 1;
  const size_t in_flight = std::max<size_t>(2 * threads + 2, (8u << 20) / options.chunk_size);
  LeafPipeline pipeline(input, options, std::max(1u, threads), batch_chunks + in_flight);

  ImportResult result{.root = crypto::Cid::v1(crypto::Codec::kRaw, {})};
  auto flush = [&]() -> core::Status {
    SYNAPSE_RETURN_IF_ERROR(
        writer.flush(result, [&](core::Bytes buffer) { pipeline.release(std::move(buffer)); }));
    if (callbacks.progress) callbacks.progress(result.file_size);
    return core::ok();
  };

  DagBuilder builder(options);
  std::vector<Block> interior;
  auto add_interior = [&] {
    for (Block& block : interior) writer.add(std::move(block), /*is_leaf=*/false);
    interior.clear();
  };
  for (;;) {
    SYNAPSE_ASSIGN_OR_RETURN(std::optional<Leaf> leaf, pipeline.next());
    if (!leaf) break;
    result.file_size += leaf->chunk_size;
    builder.add_leaf(DagBuilder::leaf_node(leaf->block, leaf->chunk_size), interior);
    add_interior();
    writer.add(std::move(leaf->block), /*is_leaf=*/true);
    if (writer.full()) SYNAPSE_RETURN_IF_ERROR(flush());
  }
  result.root = builder.finish(interior).cid;
  add_interior();
  SYNAPSE_RETURN_IF_ERROR(flush());
  return result;
}

// Imports at least this large give their memory back to the OS when they end.
constexpr uint64_t kTrimAfterBytes = 64 << 20;

}  // namespace

core::Result<ImportResult> import_file(BlockStore& store, core::SequentialFile& input,
                                       const ImportOptions& options, bool pin,
                                       const ImportCallbacks& callbacks, unsigned threads,
                                       size_t batch_bytes) {
  SYNAPSE_RETURN_IF_ERROR(options.validate());
  BatchWriter writer(store, batch_bytes);
  auto result = store_dag(input, options, callbacks, threads, batch_bytes, writer);
  // The chunk buffers are freed by now; hand them back to the OS before the pin walks the DAG,
  // so peak memory is the larger of the two phases, not their sum. Only after big imports:
  // trimming walks the whole heap, which costs milliseconds in a long-running daemon.
  if (result && result->file_size >= kTrimAfterBytes) ::malloc_trim(0);
  if (result && pin) {
    if (auto pinned = store.pin(result->root); !pinned) result = tl::unexpected(pinned.error());
  }
  if (!result) writer.roll_back();
  return result;
}

}  // namespace synapse::blockstore

namespace synapse::blockstore {

core::Result<ImportResult> import_bytes(BlockStore& store, core::ByteView data,
                                        const ImportOptions& options, bool pin) {
  SYNAPSE_RETURN_IF_ERROR(options.validate());
  DagBuilder builder(options);
  std::vector<Block> blocks;
  size_t offset = 0;
  // An empty file is one empty chunk, as in import_file().
  do {
    const size_t size = std::min(options.chunk_size, data.size() - offset);
    Block leaf = DagBuilder::make_leaf(
        options, core::Bytes(data.begin() + offset, data.begin() + offset + size));
    builder.add_leaf(DagBuilder::leaf_node(leaf, size), blocks);
    blocks.push_back(std::move(leaf));
    offset += size;
  } while (offset < data.size());
  ImportResult result{.root = builder.finish(blocks).cid, .file_size = data.size()};
  result.blocks = blocks.size();
  SYNAPSE_ASSIGN_OR_RETURN(result.new_blocks, store.put_many(blocks));
  if (pin) SYNAPSE_RETURN_IF_ERROR(store.pin(result.root));
  return result;
}

}  // namespace synapse::blockstore
