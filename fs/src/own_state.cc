#include "own_state.h"

#include <algorithm>

namespace synapse::fs {

namespace {

constexpr size_t kMaxIndexBytes = 64 << 20;
constexpr size_t kMaxJournalBytes = 1 << 30;

void put_u32(core::Bytes& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
void put_u64(core::Bytes& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}
uint64_t get_be(core::ByteView bytes, size_t at, size_t width) {
  uint64_t v = 0;
  for (size_t i = 0; i < width; ++i) v = (v << 8) | bytes[at + i];
  return v;
}

core::Result<std::vector<OwnState::Published>> parse_index(core::ByteView bytes) {
  std::vector<OwnState::Published> out;
  size_t at = 0;
  while (at < bytes.size()) {
    if (bytes.size() - at < 33) break;
    DirId dir;
    std::copy_n(bytes.begin() + at, 32, dir.begin());
    const size_t cid_size = bytes[at + 32];
    at += 33;
    if (bytes.size() - at < cid_size + 8) break;
    auto cid = crypto::Cid::from_bytes(bytes.subspan(at, cid_size));
    if (!cid) return tl::unexpected(cid.error().with_context("layers.idx"));
    out.push_back(OwnState::Published{dir, *cid, get_be(bytes, at + cid_size, 8)});
    at += cid_size + 8;
  }
  if (at != bytes.size()) {
    return core::make_error(core::ErrorCode::kCorrupt, "layers.idx is truncated");
  }
  return out;
}

}  // namespace

core::Result<std::pair<std::unique_ptr<OwnState>, OwnState::Contents>> OwnState::open(
    core::Env& env, const std::filesystem::path& dir, bool sync) {
  SYNAPSE_RETURN_IF_ERROR(env.create_dirs(dir, 0700));
  Contents contents;
  SYNAPSE_ASSIGN_OR_RETURN(const bool has_index, env.exists(dir / "layers.idx"));
  if (has_index) {
    SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes index,
                             env.read_file(dir / "layers.idx", kMaxIndexBytes));
    SYNAPSE_ASSIGN_OR_RETURN(contents.published, parse_index(index));
  }
  SYNAPSE_ASSIGN_OR_RETURN(const bool has_journal, env.exists(dir / "journal"));
  if (has_journal) {
    SYNAPSE_ASSIGN_OR_RETURN(const core::Bytes journal,
                             env.read_file(dir / "journal", kMaxJournalBytes));
    const core::ByteView bytes(journal);
    size_t at = 0;
    // A record cut short by a crash ends the journal: close() had not returned for it.
    while (bytes.size() - at >= 4) {
      const size_t length = get_be(bytes, at, 4);
      if (length < 32 || bytes.size() - at - 4 < length) break;
      DirId dir_id;
      std::copy_n(bytes.begin() + at + 4, 32, dir_id.begin());
      auto layer = decode_layer(bytes.subspan(at + 36, length - 32));
      if (!layer || layer->entries.size() != 1) break;
      contents.journal.emplace_back(dir_id, layer->entries.begin()->second);
      at += 4 + length;
    }
  }
  std::unique_ptr<OwnState> state(new OwnState(env, dir, sync));
  SYNAPSE_ASSIGN_OR_RETURN(state->journal_, env.open_appendable(dir / "journal"));
  return std::pair{std::move(state), std::move(contents)};
}

core::Status OwnState::append(const DirId& dir, const Entry& entry) {
  Layer one;
  one.entries.emplace(entry.name, entry);
  const core::Bytes encoded = encode_layer(one);
  core::Bytes record;
  put_u32(record, static_cast<uint32_t>(32 + encoded.size()));
  record.insert(record.end(), dir.begin(), dir.end());
  record.insert(record.end(), encoded.begin(), encoded.end());
  SYNAPSE_RETURN_IF_ERROR(journal_->append(record));
  return sync_ ? journal_->sync() : core::ok();
}

core::Status OwnState::write_index(const std::vector<Published>& published) {
  core::Bytes index;
  for (const Published& p : published) {
    const core::Bytes cid = p.layer.to_bytes();
    index.insert(index.end(), p.dir.begin(), p.dir.end());
    index.push_back(static_cast<uint8_t>(cid.size()));
    index.insert(index.end(), cid.begin(), cid.end());
    put_u64(index, p.seq);
  }
  return env_.write_file_atomic(dir_ / "layers.idx", index, 0600, true);
}

core::Status OwnState::clear_journal() {
  SYNAPSE_RETURN_IF_ERROR(journal_->close());
  SYNAPSE_ASSIGN_OR_RETURN(journal_, env_.open_writable(dir_ / "journal", 0600));
  return core::ok();
}

}  // namespace synapse::fs
