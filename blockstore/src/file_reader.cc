#include "synapse/blockstore/file_reader.h"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include "synapse/blockstore/dag_pb.h"

namespace synapse::blockstore {

using core::ErrorCode;
using core::make_error;

namespace {

struct FileNode {
  PbNode node;
  UnixfsData unixfs;
};

core::Result<FileNode> decode_file_node(const crypto::Cid& cid, core::ByteView bytes) {
  auto fail = [&](const core::Error& error) {
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() + ": " + error.message());
  };
  auto node = decode_pb_node(bytes);
  if (!node) return fail(node.error());
  if (!node->data)
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() + " has no UnixFS data");
  auto unixfs = decode_unixfs(*node->data);
  if (!unixfs) return fail(unixfs.error());
  if (unixfs->type != UnixfsType::kFile && unixfs->type != UnixfsType::kRaw) {
    const char* kind = unixfs->type == UnixfsType::kDirectory   ? "a directory"
                       : unixfs->type == UnixfsType::kHamtShard ? "a sharded directory"
                       : unixfs->type == UnixfsType::kSymlink   ? "a symlink"
                                                                : "not a file";
    return make_error(ErrorCode::kInvalidArgument,
                      cid.to_string() + " is " + kind + ", not a file");
  }
  if (unixfs->blocksizes.size() != node->links.size()) {
    return make_error(ErrorCode::kCorrupt, "block " + cid.to_string() +
                                               " has a different number of links and blocksizes");
  }
  return FileNode{std::move(*node), std::move(*unixfs)};
}

uint64_t content_size(const FileNode& file) {
  uint64_t size = file.unixfs.data ? file.unixfs.data->size() : 0;
  for (uint64_t child : file.unixfs.blocksizes) size += child;
  return size;
}

}  // namespace

// Fetches blocks on worker threads; each fetch() gives a future of BlockStore::get. Jobs not
// started when the Prefetcher is destroyed are dropped (their futures report broken_promise).
class FileReader::Prefetcher {
 public:
  Prefetcher(BlockStore& store, unsigned threads) : store_(store) {
    for (unsigned i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  }
  ~Prefetcher() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    wake_.notify_all();
    for (auto& thread : threads_) thread.join();
  }

  std::future<core::Result<core::Bytes>> fetch(const crypto::Cid& cid) {
    std::packaged_task<core::Result<core::Bytes>()> job([this, cid] { return store_.get(cid); });
    auto result = job.get_future();
    {
      std::lock_guard lock(mu_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
    return result;
  }

 private:
  void work() {
    for (;;) {
      std::packaged_task<core::Result<core::Bytes>()> job;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stopped_ || !jobs_.empty(); });
        if (stopped_) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }

  BlockStore& store_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::packaged_task<core::Result<core::Bytes>()>> jobs_;
  bool stopped_ = false;
  std::vector<std::thread> threads_;
};

core::Result<FileReader> FileReader::open(BlockStore& store, const crypto::Cid& root) {
  if (root.codec() == crypto::Codec::kRaw) {
    SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, store.size(root));
    return FileReader(store, root, size);
  }
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, store.get(root));
  SYNAPSE_ASSIGN_OR_RETURN(FileNode file, decode_file_node(root, bytes));
  return FileReader(store, root, content_size(file));
}

core::Status FileReader::read(uint64_t offset, uint64_t length, const Sink& sink,
                              unsigned read_ahead) const {
  if (offset >= size_ || length == 0) return core::ok();
  const Range range{offset, offset + std::min(length, size_ - offset), read_ahead};
  std::optional<Prefetcher> prefetcher;
  if (read_ahead > 0) prefetcher.emplace(*store_, 2);
  return read_node(root_, std::nullopt, 0, size_, range, 0, sink,
                   prefetcher ? &*prefetcher : nullptr);
}

core::Status FileReader::read_node(const crypto::Cid& cid, std::optional<core::Bytes> fetched,
                                   uint64_t node_start, uint64_t node_size, const Range& range,
                                   int depth, const Sink& sink, Prefetcher* prefetcher) const {
  if (depth > kMaxDepth) {
    return make_error(ErrorCode::kCorrupt, "DAG below " + root_.to_string() + " is too deep");
  }
  if (!fetched) {
    SYNAPSE_ASSIGN_OR_RETURN(fetched, store_->get(cid));
  }
  const core::Bytes& bytes = *fetched;
  // Emits the part of [start, start + piece.size()) that lies in the range.
  auto emit = [&](uint64_t start, core::ByteView piece) -> core::Status {
    const uint64_t from = std::max(range.begin, start);
    const uint64_t to = std::min(range.end, start + piece.size());
    if (from >= to) return core::ok();
    return sink(piece.subspan(from - start, to - from));
  };
  if (cid.codec() == crypto::Codec::kRaw) {
    if (bytes.size() != node_size) {
      return make_error(ErrorCode::kCorrupt,
                        "block " + cid.to_string() + " has " + std::to_string(bytes.size()) +
                            " bytes, its parent says " + std::to_string(node_size));
    }
    return emit(node_start, bytes);
  }
  SYNAPSE_ASSIGN_OR_RETURN(FileNode file, decode_file_node(cid, bytes));
  if (content_size(file) != node_size) {
    return make_error(ErrorCode::kCorrupt,
                      "block " + cid.to_string() + " holds a different size than its parent says");
  }
  uint64_t position = node_start;
  if (file.unixfs.data) {
    SYNAPSE_RETURN_IF_ERROR(emit(position, *file.unixfs.data));
    position += file.unixfs.data->size();
  }
  // The children overlapping the range: [first, last), the first starting at `position`.
  const std::vector<uint64_t>& sizes = file.unixfs.blocksizes;
  size_t first = 0;
  while (first < sizes.size() && position + sizes[first] <= range.begin) position += sizes[first++];
  size_t last = first;
  for (uint64_t at = position; last < sizes.size() && at < range.end; ++last) at += sizes[last];

  std::deque<std::future<core::Result<core::Bytes>>> ahead;
  size_t scheduled = first;
  for (size_t i = first; i < last; ++i) {
    std::optional<core::Bytes> child;
    if (prefetcher != nullptr) {
      while (scheduled < last && scheduled - i < range.read_ahead) {
        ahead.push_back(prefetcher->fetch(file.node.links[scheduled++].cid));
      }
      SYNAPSE_ASSIGN_OR_RETURN(child, ahead.front().get());
      ahead.pop_front();
    }
    SYNAPSE_RETURN_IF_ERROR(read_node(file.node.links[i].cid, std::move(child), position, sizes[i],
                                      range, depth + 1, sink, prefetcher));
    position += sizes[i];
  }
  return core::ok();
}

}  // namespace synapse::blockstore
