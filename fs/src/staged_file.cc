#include "staged_file.h"

#include <algorithm>
#include <cstring>

namespace synapse::fs {

core::Result<std::unique_ptr<StagedFile>> StagedFile::open(blockstore::BlockStore& store,
                                                           core::Env& env,
                                                           const std::filesystem::path& scratch_dir,
                                                           const std::optional<crypto::Cid>& base,
                                                           uint64_t chunk_size) {
  std::unique_ptr<StagedFile> file(new StagedFile(store, env, scratch_dir, chunk_size));
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

core::Status StagedFile::read_base(uint64_t offset, std::span<uint8_t> out) {
  // Zeros past what the base shows: holes, and what a truncation cut off.
  const uint64_t visible_end = std::min<uint64_t>(base_visible_, offset + out.size());
  size_t filled = 0;
  if (base_ && offset < visible_end) {
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
