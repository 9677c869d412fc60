#include "staged_file.h"

#include <algorithm>
#include <cstring>

#include "synapse/blockstore/dag_pb.h"
#include "synapse/blockstore/unixfs.h"

namespace synapse::fs {

namespace {

// DAGs are walked at most this deep, and listed only up to this many leaves (256 GiB of 256 KiB
// chunks); larger files are read through the FileReader.
constexpr int kMaxDepth = 32;
constexpr size_t kMaxIndexedLeaves = 1 << 20;
// Leaves fetched ahead of a sequential reader, at most.
constexpr size_t kReadAheadLeaves = 2;
// Leaves kept in memory per open file (see cached_leaves_).
constexpr size_t kCachedLeaves = 4;
// Streamed leaves are stored in batches of this many bytes.
constexpr size_t kStreamBatchBytes = 8 << 20;

}  // namespace

// Fetches (and so verifies) leaves of the base ahead of a sequential reader, so that hashing
// overlaps the reader's copying. At most kReadAheadLeaves are held.
class StagedFile::ReadAhead {
 public:
  explicit ReadAhead(blockstore::BlockStore& store) : store_(store), thread_([this] { run(); }) {}
  ~ReadAhead() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

  void want(const crypto::Cid& cid) {
    {
      std::lock_guard lock(mu_);
      if (results_.size() >= kReadAheadLeaves || results_.count(cid)) return;
      results_.emplace(cid, std::nullopt);
      queue_.push_back(cid);
    }
    wake_.notify_all();
  }

  // The block of `cid` if it was wanted (waiting for it); nullopt if it was not.
  std::optional<core::Result<core::Bytes>> take(const crypto::Cid& cid) {
    std::unique_lock lock(mu_);
    auto it = results_.find(cid);
    if (it == results_.end()) return std::nullopt;
    wake_.wait(lock, [&] { return it->second.has_value(); });
    auto result = std::move(*it->second);
    results_.erase(it);
    return result;
  }

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (true) {
      wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      const crypto::Cid cid = queue_.front();
      queue_.erase(queue_.begin());
      lock.unlock();
      auto bytes = store_.get(cid);
      lock.lock();
      if (auto it = results_.find(cid); it != results_.end()) it->second = std::move(bytes);
      wake_.notify_all();
    }
  }

  blockstore::BlockStore& store_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::vector<crypto::Cid> queue_;
  std::map<crypto::Cid, std::optional<core::Result<core::Bytes>>> results_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

StagedFile::StagedFile(blockstore::BlockStore& store, core::Env& env,
                       std::filesystem::path scratch_dir, const blockstore::ImportOptions& options)
    : store_(store),
      env_(env),
      scratch_dir_(std::move(scratch_dir)),
      options_(options),
      chunk_size_(options.chunk_size) {}

StagedFile::~StagedFile() = default;

core::Result<std::unique_ptr<StagedFile>> StagedFile::open(
    blockstore::BlockStore& store, core::Env& env, const std::filesystem::path& scratch_dir,
    const std::optional<crypto::Cid>& base, const blockstore::ImportOptions& options) {
  std::unique_ptr<StagedFile> file(new StagedFile(store, env, scratch_dir, options));
  SYNAPSE_RETURN_IF_ERROR(file->set_base(base));
  return file;
}

core::Result<core::RandomAccessFile*> StagedFile::scratch() {
  if (!scratch_) {
    SYNAPSE_ASSIGN_OR_RETURN(scratch_, env_.open_scratch(scratch_dir_));
  }
  return scratch_.get();
}

core::Status StagedFile::set_base(const std::optional<crypto::Cid>& root) {
  base_.reset();
  base_root_ = root;
  leaves_.clear();
  indexed_ = use_leaves_ = false;
  cached_leaves_.clear();
  read_ahead_.reset();
  last_leaf_read_.reset();
  stream_.reset();
  if (!root) stream_.emplace(options_);
  size_ = 0;
  if (root) {
    SYNAPSE_ASSIGN_OR_RETURN(auto reader, blockstore::FileReader::open(store_, *root));
    size_ = reader.size();
    base_ = std::move(reader);
  }
  base_visible_ = size_;
  owned_.clear();
  dirty_ = false;
  return scratch_ ? scratch_->truncate(0) : core::ok();
}

core::Status StagedFile::rebase(const std::optional<crypto::Cid>& root) { return set_base(root); }

core::Status StagedFile::index_leaves() {
  indexed_ = true;
  std::vector<Leaf> leaves;
  // (node, start, size, depth), depth first, children in order.
  struct Todo {
    crypto::Cid cid;
    uint64_t start;
    uint64_t size;
    int depth;
  };
  const uint64_t base_size = base_->size();
  std::vector<Todo> todo{{*base_root_, 0, base_size, 0}};
  while (!todo.empty()) {
    const Todo node = todo.back();
    todo.pop_back();
    if (node.depth > kMaxDepth || leaves.size() > kMaxIndexedLeaves) return core::ok();
    if (node.cid.codec() == crypto::Codec::kRaw) {
      leaves.push_back({node.start, node.size, node.cid});
      continue;
    }
    SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes bytes, store_.get(node.cid));
    SYNAPSE_ASSIGN_OR_RETURN(const blockstore::PbNode pb, blockstore::decode_pb_node(bytes));
    if (pb.links.empty()) {
      leaves.push_back({node.start, node.size, node.cid});
      continue;
    }
    if (!pb.data) return core::ok();  // not UnixFS: leave it to the FileReader
    SYNAPSE_ASSIGN_OR_RETURN(const blockstore::UnixfsData data,
                             blockstore::decode_unixfs(*pb.data));
    if (data.blocksizes.size() != pb.links.size()) return core::ok();
    uint64_t start = node.start;
    std::vector<Todo> children;
    for (size_t i = 0; i < pb.links.size(); ++i) {
      children.push_back({pb.links[i].cid, start, data.blocksizes[i], node.depth + 1});
      start += data.blocksizes[i];
    }
    todo.insert(todo.end(), children.rbegin(), children.rend());
  }
  uint64_t end = 0;
  for (const Leaf& leaf : leaves) {
    if (leaf.start != end) return core::ok();  // sizes do not add up: the FileReader reports it
    end += leaf.size;
  }
  if (end != base_size) return core::ok();
  leaves_ = std::move(leaves);
  use_leaves_ = true;
  return core::ok();
}

core::Result<core::ByteView> StagedFile::leaf_content(const Leaf& leaf) {
  auto hit = std::find_if(cached_leaves_.begin(), cached_leaves_.end(),
                          [&](const CachedLeaf& cached) { return cached.cid == leaf.cid; });
  if (hit != cached_leaves_.end()) {
    std::rotate(cached_leaves_.begin(), hit, hit + 1);
    return core::ByteView(cached_leaves_.front().content);
  }
  core::Bytes bytes;
  if (auto ahead = read_ahead_ ? read_ahead_->take(leaf.cid) : std::nullopt) {
    SYNAPSE_ASSIGN_OR_RETURN(bytes, std::move(*ahead));
  } else {
    SYNAPSE_ASSIGN_OR_RETURN(bytes, store_.get(leaf.cid));
  }
  if (leaf.cid.codec() != crypto::Codec::kRaw) {
    SYNAPSE_ASSIGN_OR_RETURN(const blockstore::PbNode pb, blockstore::decode_pb_node(bytes));
    if (!pb.data) return core::make_error(core::ErrorCode::kCorrupt, "leaf without data");
    SYNAPSE_ASSIGN_OR_RETURN(blockstore::UnixfsData data, blockstore::decode_unixfs(*pb.data));
    bytes = data.data.value_or(core::Bytes{});
  }
  if (bytes.size() != leaf.size) {
    return core::make_error(core::ErrorCode::kCorrupt, "a leaf's size does not match its parent");
  }
  if (cached_leaves_.size() == kCachedLeaves) cached_leaves_.pop_back();
  cached_leaves_.insert(cached_leaves_.begin(), CachedLeaf{leaf.cid, std::move(bytes)});
  return core::ByteView(cached_leaves_.front().content);
}

core::Status StagedFile::read_leaves(const std::vector<Leaf>& leaves, uint64_t offset,
                                     std::span<uint8_t> out) {
  auto leaf = std::upper_bound(leaves.begin(), leaves.end(), offset,
                               [](uint64_t at, const Leaf& l) { return at < l.start; });
  size_t filled = 0;
  for (--leaf; filled < out.size(); ++leaf) {
    // Reading the leaf after the one read last: read the next ones ahead.
    const size_t index = static_cast<size_t>(leaf - leaves.begin());
    if (&leaves == &leaves_ && last_leaf_read_ && index == *last_leaf_read_ + 1) {
      if (!read_ahead_) read_ahead_ = std::make_unique<ReadAhead>(store_);
      for (size_t next = index + 1; next <= index + kReadAheadLeaves && next < leaves.size();
           ++next) {
        read_ahead_->want(leaves[next].cid);
      }
    }
    if (&leaves == &leaves_ && last_leaf_read_ != index) last_leaf_read_ = index;
    SYNAPSE_ASSIGN_OR_RETURN(const core::ByteView content, leaf_content(*leaf));
    const uint64_t from = offset + filled - leaf->start;
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(content.size() - from, out.size() - filled));
    std::memcpy(out.data() + filled, content.data() + from, n);
    filled += n;
  }
  return core::ok();
}

core::Status StagedFile::read_base(uint64_t offset, std::span<uint8_t> out) {
  // Zeros past what the base shows: holes, and what a truncation cut off.
  const uint64_t visible_end = std::min<uint64_t>(base_visible_, offset + out.size());
  size_t filled = 0;
  if (base_ && offset < visible_end && !indexed_) {
    if (auto indexed = index_leaves(); !indexed) {
      indexed_ = false;  // a missing block: tried again once it was fetched
      return indexed;
    }
  }
  if (base_ && offset < visible_end && use_leaves_) {
    SYNAPSE_RETURN_IF_ERROR(read_leaves(leaves_, offset, out.first(visible_end - offset)));
    filled = visible_end - offset;
  } else if (base_ && offset < visible_end) {
    SYNAPSE_RETURN_IF_ERROR(base_->read(offset, visible_end - offset, [&](core::ByteView piece) {
      std::memcpy(out.data() + filled, piece.data(), piece.size());
      filled += piece.size();
      return core::ok();
    }));
  }
  std::fill(out.begin() + static_cast<ptrdiff_t>(filled), out.end(), 0);
  return core::ok();
}

core::Result<size_t> StagedFile::read(uint64_t offset, std::span<uint8_t> out) {
  if (offset >= size_) return 0;
  const uint64_t end = std::min<uint64_t>(size_, offset + out.size());
  if (stream_) {
    // Streamed so far: stored leaves, then the tail in memory.
    SYNAPSE_RETURN_IF_ERROR(flush_stream());
    const uint64_t stored = size_ - stream_->tail.size();
    if (offset < stored) {
      SYNAPSE_RETURN_IF_ERROR(
          read_leaves(stream_->leaves, offset, out.first(std::min(end, stored) - offset)));
    }
    for (uint64_t at = std::max(offset, stored); at < end; ++at) {
      out[at - offset] = stream_->tail[at - stored];
    }
    return static_cast<size_t>(end - offset);
  }
  uint64_t at = offset;
  while (at < end) {
    const uint64_t chunk = at / chunk_size_;
    const uint64_t piece_end = std::min<uint64_t>(end, (chunk + 1) * chunk_size_);
    std::span<uint8_t> piece = out.subspan(at - offset, piece_end - at);
    if (owned_.count(chunk)) {
      SYNAPSE_ASSIGN_OR_RETURN(const size_t n, scratch_->read_at(at, piece));
      std::fill(piece.begin() + static_cast<ptrdiff_t>(n), piece.end(), 0);  // sparse tail
    } else {
      SYNAPSE_RETURN_IF_ERROR(read_base(at, piece));
    }
    at = piece_end;
  }
  return static_cast<size_t>(end - offset);
}

core::Status StagedFile::own_chunk(uint64_t index) {
  if (owned_.count(index)) return core::ok();
  const uint64_t start = index * chunk_size_;
  if (base_ && start < base_visible_) {
    core::Bytes bytes(std::min<uint64_t>(chunk_size_, base_visible_ - start));
    SYNAPSE_RETURN_IF_ERROR(read_base(start, bytes));
    SYNAPSE_ASSIGN_OR_RETURN(core::RandomAccessFile * file, scratch());
    SYNAPSE_RETURN_IF_ERROR(file->write_at(start, bytes));
  }
  owned_.insert(index);
  return core::ok();
}

core::Status StagedFile::write(uint64_t offset, std::span<const uint8_t> data) {
  if (data.empty()) return core::ok();
  if (stream_ && offset == size_) return stream_append(data);
  if (stream_) SYNAPSE_RETURN_IF_ERROR(unstream());
  const uint64_t end = offset + data.size();
  for (uint64_t chunk = offset / chunk_size_; chunk <= (end - 1) / chunk_size_; ++chunk) {
    SYNAPSE_RETURN_IF_ERROR(own_chunk(chunk));
  }
  SYNAPSE_ASSIGN_OR_RETURN(core::RandomAccessFile * file, scratch());
  SYNAPSE_RETURN_IF_ERROR(file->write_at(offset, data));
  size_ = std::max(size_, end);
  dirty_ = true;
  return core::ok();
}

core::Status StagedFile::truncate(uint64_t size) {
  if (stream_ && size == size_) return core::ok();
  if (stream_) SYNAPSE_RETURN_IF_ERROR(unstream());
  if (size < size_) {
    // The chunk holding the new end keeps its head; everything after it is gone.
    if (size % chunk_size_ != 0) SYNAPSE_RETURN_IF_ERROR(own_chunk(size / chunk_size_));
    owned_.erase(owned_.lower_bound((size + chunk_size_ - 1) / chunk_size_), owned_.end());
    base_visible_ = std::min(base_visible_, size);
  }
  if (scratch_) SYNAPSE_RETURN_IF_ERROR(scratch_->truncate(size));
  size_ = size;
  dirty_ = true;
  return core::ok();
}

core::Status StagedFile::stream_append(std::span<const uint8_t> data) {
  Stream& stream = *stream_;
  stream.tail.insert(stream.tail.end(), data.begin(), data.end());
  size_ += data.size();
  dirty_ = true;
  size_t used = 0;
  while (stream.tail.size() - used >= chunk_size_) {
    const uint64_t start = size_ - (stream.tail.size() - used);
    blockstore::Block leaf = blockstore::DagBuilder::make_leaf(
        options_, core::Bytes(stream.tail.begin() + static_cast<ptrdiff_t>(used),
                              stream.tail.begin() + static_cast<ptrdiff_t>(used + chunk_size_)));
    stream.builder.add_leaf(blockstore::DagBuilder::leaf_node(leaf, chunk_size_), stream.unstored);
    stream.leaves.push_back({start, chunk_size_, leaf.cid()});
    stream.unstored_bytes += leaf.data().size();
    stream.unstored.push_back(std::move(leaf));
    used += chunk_size_;
  }
  stream.tail.erase(stream.tail.begin(), stream.tail.begin() + static_cast<ptrdiff_t>(used));
  if (stream.unstored_bytes >= kStreamBatchBytes) SYNAPSE_RETURN_IF_ERROR(flush_stream());
  return core::ok();
}

core::Status StagedFile::flush_stream() {
  if (stream_->unstored.empty()) return core::ok();
  SYNAPSE_RETURN_IF_ERROR(store_.put_many(stream_->unstored));
  stream_->unstored.clear();
  stream_->unstored_bytes = 0;
  return core::ok();
}

core::Status StagedFile::unstream() {
  // What was streamed becomes owned chunks of the scratch file; the leaves already stored stay
  // in the store unreferenced (collected as garbage) unless the content comes back.
  SYNAPSE_RETURN_IF_ERROR(flush_stream());
  Stream stream = std::move(*stream_);
  stream_.reset();
  SYNAPSE_ASSIGN_OR_RETURN(core::RandomAccessFile * file, scratch());
  for (const Leaf& leaf : stream.leaves) {
    SYNAPSE_ASSIGN_OR_RETURN(const core::ByteView content, leaf_content(leaf));
    SYNAPSE_RETURN_IF_ERROR(file->write_at(leaf.start, content));
  }
  SYNAPSE_RETURN_IF_ERROR(file->write_at(size_ - stream.tail.size(), stream.tail));
  for (uint64_t chunk = 0; chunk * chunk_size_ < size_; ++chunk) owned_.insert(chunk);
  return core::ok();
}

core::Result<std::optional<crypto::Cid>> StagedFile::finish_stream() {
  SYNAPSE_CHECK(streaming(), "finish_stream() of a file that is not streaming");
  Stream& stream = *stream_;
  if (size_ == 0) return std::optional<crypto::Cid>();
  if (!stream.tail.empty()) {
    blockstore::Block leaf = blockstore::DagBuilder::make_leaf(options_, stream.tail);
    stream.builder.add_leaf(blockstore::DagBuilder::leaf_node(leaf, stream.tail.size()),
                            stream.unstored);
    stream.unstored.push_back(std::move(leaf));
  }
  const crypto::Cid root = stream.builder.finish(stream.unstored).cid;
  SYNAPSE_RETURN_IF_ERROR(store_.put_many(stream.unstored));
  stream.unstored.clear();
  SYNAPSE_RETURN_IF_ERROR(store_.pin(root));
  return std::optional(root);
}

namespace {

class ContentStream final : public core::SequentialFile {
 public:
  explicit ContentStream(StagedFile& file) : file_(file) {}
  core::Result<size_t> read(std::span<uint8_t> buffer) override {
    SYNAPSE_ASSIGN_OR_RETURN(const size_t n, file_.read(offset_, buffer));
    offset_ += n;
    return n;
  }
  std::optional<uint64_t> size_hint() const override { return file_.size(); }

 private:
  StagedFile& file_;
  uint64_t offset_ = 0;
};

}  // namespace

std::unique_ptr<core::SequentialFile> StagedFile::content() {
  return std::make_unique<ContentStream>(*this);
}

}  // namespace synapse::fs
