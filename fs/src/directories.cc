// Directories of the shared tree: layers, revalidation, resolved views, writing records and
// publishing this node's layers.
#include <algorithm>
#include <cstring>

#include "shared_impl.h"
#include "synapse/blockstore/file_reader.h"

namespace synapse::fs {

namespace {

core::Result<std::shared_ptr<const Layer>> read_layer(blockstore::BlockStore& store,
                                                      const crypto::Cid& root) {
  SYNAPSE_ASSIGN_OR_RETURN(auto reader, blockstore::FileReader::open(store, root));
  if (reader.size() > kMaxLayerBytes) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "directory layer too large");
  }
  core::Bytes bytes;
  bytes.reserve(reader.size());
  SYNAPSE_RETURN_IF_ERROR(reader.read(0, reader.size(), [&](core::ByteView piece) {
    bytes.insert(bytes.end(), piece.begin(), piece.end());
    return core::ok();
  }));
  SYNAPSE_ASSIGN_OR_RETURN(Layer layer, decode_layer(bytes));
  return std::make_shared<const Layer>(std::move(layer));
}

Hlc newest(const Layer& layer) {
  Hlc out;
  for (const auto& [name, entry] : layer.entries) out = std::max(out, entry.version.hlc);
  return out;
}

}  // namespace

core::Status SharedFs::load(OwnState::Contents contents) {
  Lock lock(mu_);
  dirs_[root_dir_id()];
  for (const OwnState::Published& published : contents.published) {
    SYNAPSE_ASSIGN_OR_RETURN(auto layer, read_layer(store_, published.layer));
    DirState& state = dirs_[published.dir];
    state.own = *layer;
    state.own_root = published.layer;
    state.own_seq = published.seq;
    hlc_.observe(newest(state.own));
    hlc_.observe(Hlc{published.seq});
  }
  for (auto& [dir, entry] : contents.journal) {
    DirState& state = dirs_[dir];
    auto it = state.own.entries.find(entry.name);
    if (it != state.own.entries.end() && it->second.version >= entry.version) continue;
    hlc_.observe(entry.version.hlc);
    state.own.entries[entry.name] = std::move(entry);
    state.dirty = true;
    state.dirty_since = clock_.now();
    ++state.generation;
  }
  // What this node's records name it pins, and a pinned DAG is stored whole.
  for (const auto& [id, state] : dirs_) {
    for (const auto& [name, entry] : state.own.entries) {
      if (entry.content) complete_.insert(*entry.content);
    }
  }
  return core::ok();
}

Version SharedFs::next_version() { return Version{hlc_.tick(backend_.wall_ms()), self_}; }

void SharedFs::refresh(const std::vector<DirId>& dirs, bool force) {
  for (const DirId& id : dirs) {
    std::map<WriterId, uint64_t> known;  // writer -> seq held
    {
      Lock lock(mu_);
      DirState& state = dirs_[id];
      if (!force && state.validated &&
          clock_.now() - *state.validated < options_.revalidate_after) {
        continue;
      }
      for (const auto& [writer, foreign] : state.foreign) known[writer] = foreign.ref.seq;
    }
    auto refs = backend_.layers(id, options_.network_timeout);
    std::vector<Foreign> fresh;
    if (refs) {
      for (const LayerRef& ref : *refs) {
        if (ref.writer == self_) continue;
        auto it = known.find(ref.writer);
        if (it != known.end() && it->second >= ref.seq) continue;
        // A layer that cannot be had now is tried again at the next revalidation; the
        // directory shows what is known meanwhile (available under partition).
        if (!backend_.fetch(ref.layer, ref.writer, options_.network_timeout)) continue;
        auto layer = read_layer(store_, ref.layer);
        if (!layer) continue;
        fresh.push_back(Foreign{ref, *layer});
      }
    }
    Lock lock(mu_);
    DirState& state = dirs_[id];
    for (Foreign& foreign : fresh) {
      auto slot = state.foreign.find(foreign.ref.writer);
      if (slot != state.foreign.end() && slot->second.ref.seq >= foreign.ref.seq) continue;
      hlc_.observe(newest(*foreign.layer));
      state.foreign.insert_or_assign(foreign.ref.writer, std::move(foreign));
      ++state.generation;
    }
    state.validated = clock_.now();
  }
}

core::Result<std::vector<DirId>> SharedFs::dirs_of(Ino dir) {
  Lock lock(mu_);
  auto it = inodes_.find(dir);
  if (it == inodes_.end()) return core::make_error(core::ErrorCode::kNotFound, "stale inode");
  if (it->second.type != FileType::kDirectory) {
    return core::make_error(core::ErrorCode::kNotDirectory, "not a directory");
  }
  return it->second.dirs;  // empty for the special trees
}

std::vector<const Layer*> SharedFs::layers_of(const std::vector<DirId>& dirs) {
  std::vector<const Layer*> layers;
  for (const DirId& id : dirs) {
    const DirState& state = dirs_[id];
    layers.push_back(&state.own);
    for (const auto& [writer, foreign] : state.foreign) layers.push_back(foreign.layer.get());
  }
  return layers;
}

const DirView& SharedFs::view_of(const std::vector<DirId>& dirs) {
  std::vector<uint64_t> generations;
  for (const DirId& id : dirs) generations.push_back(dirs_[id].generation);
  CachedView& cached = views_[dirs];
  if (cached.generations != generations || generations.empty()) {
    cached.resolver.reset(layers_of(dirs));
    cached.generations = std::move(generations);
  }
  return cached.resolver.view();
}

void SharedFs::set_own_record(const DirId& id, const std::string& name,
                              std::optional<Entry> entry) {
  DirState& state = dirs_[id];
  // The directory's own view, if up to date, stays so incrementally; views of merged
  // directories (several IDs, rare) resolve again when next used.
  std::vector<std::pair<CachedView*, size_t>> current;
  if (auto single = views_.find(std::vector<DirId>{id});
      single != views_.end() && single->second.generations.size() == 1 &&
      single->second.generations[0] == state.generation) {
    current.emplace_back(&single->second, 0);
  }
  auto it = state.own.entries.find(name);
  if (it != state.own.entries.end()) {
    for (auto& [cached, index] : current) cached->resolver.remove(&it->second);
  }
  const Entry* now = nullptr;
  if (entry) {
    if (it == state.own.entries.end()) {
      it = state.own.entries.emplace(name, std::move(*entry)).first;
    } else {
      it->second = std::move(*entry);
    }
    now = &it->second;
  } else if (it != state.own.entries.end()) {
    state.own.entries.erase(it);
  }
  ++state.generation;
  for (auto& [cached, index] : current) {
    if (now) cached->resolver.add(now);
    cached->generations[index] = state.generation;
  }
  if (!state.dirty) state.dirty_since = clock_.now();
  state.dirty = true;
}

core::Result<const Resolved*> SharedFs::find(Ino dir, const std::string& name) {
  auto it = inodes_.find(dir);
  if (it == inodes_.end()) return core::make_error(core::ErrorCode::kNotFound, "stale inode");
  if (it->second.type != FileType::kDirectory) {
    return core::make_error(core::ErrorCode::kNotDirectory, "not a directory");
  }
  if (it->second.parent == 0 && dir != kRootIno) {
    return core::make_error(core::ErrorCode::kNotFound, "directory was removed");
  }
  const DirView& view = view_of(it->second.dirs);
  auto entry = view.find(name);
  return entry == view.end() ? nullptr : &entry->second;
}

core::Status SharedFs::put_record(const std::vector<DirId>& dirs, const std::string& name,
                                  Entry entry, const std::vector<Version>& replaces) {
  SYNAPSE_CHECK(!dirs.empty(), "a record needs a directory");
  std::set<Version> all(replaces.begin(), replaces.end());
  std::vector<crypto::Cid> released;
  for (const DirId& id : dirs) {
    DirState& state = dirs_[id];
    auto it = state.own.entries.find(name);
    if (it == state.own.entries.end()) continue;
    // This node's earlier record leaves its layer: keep what it replaced replaced.
    all.insert(it->second.version);
    all.insert(it->second.replaces.begin(), it->second.replaces.end());
    if (it->second.content) released.push_back(*it->second.content);
    if (id != dirs.front()) set_own_record(id, name, std::nullopt);
  }
  entry.name = name;
  entry.version = next_version();
  entry.replaces.assign(all.begin(), all.end());
  if (entry.replaces.size() > kMaxReplaces) {
    // The oldest versions go first: they are the ones most likely gone from every layer.
    std::sort(entry.replaces.begin(), entry.replaces.end(),
              [](const Version& a, const Version& b) { return a.hlc > b.hlc; });
    entry.replaces.resize(kMaxReplaces);
    std::sort(entry.replaces.begin(), entry.replaces.end());
  }
  // Pins follow this node's records: one per record naming a content. A record that names what
  // the one it replaces named (a chmod, a touch) leaves the pins as they are.
  const auto same = std::find(released.begin(), released.end(), entry.content);
  const bool keep_pin = entry.content && same != released.end();
  if (keep_pin) released.erase(same);
  if (entry.content && !keep_pin) SYNAPSE_RETURN_IF_ERROR(store_.pin(*entry.content));
  if (auto journaled = own_state_->append(dirs.front(), entry); !journaled) {
    if (entry.content && !keep_pin) (void)store_.unpin(*entry.content);
    return journaled;
  }
  const std::optional<crypto::Cid> added = entry.content;
  set_own_record(dirs.front(), name, std::move(entry));
  for (const crypto::Cid& cid : released) {
    if (store_.unpin(cid)) {
      if (!added || *added != cid) backend_.removed(cid);
    }
  }
  if (added && !keep_pin) {
    complete_.insert(*added);
    // Pinned now: no longer the cache's to evict.
    if (auto cached = cached_.find(*added); cached != cached_.end()) {
      cached_bytes_ -= cached->second.bytes;
      cached_.erase(cached);
    }
    backend_.added(*added);
  }
  return core::ok();
}

core::Status SharedFs::put_tombstone(const std::vector<DirId>& dirs, const std::string& name,
                                     const std::vector<Version>& replaces) {
  Entry tombstone;
  tombstone.kind = EntryKind::kDeleted;
  return put_record(dirs, name, std::move(tombstone), replaces);
}

core::Status SharedFs::publish_due(bool everything) {
  Lock publishing(publish_mu_);
  std::vector<std::pair<DirId, core::Bytes>> work;
  {
    Lock lock(mu_);
    const core::MonoTime now = clock_.now();
    for (auto& [id, state] : dirs_) {
      if (!state.dirty || (!everything && now - state.dirty_since < options_.publish_delay)) {
        continue;
      }
      work.emplace_back(id, encode_layer(state.own));
      state.dirty = false;
    }
  }
  core::Status result = core::ok();
  for (const auto& [id, bytes] : work) {
    auto imported = blockstore::import_bytes(store_, bytes, options_.import, /*pin=*/true);
    Lock lock(mu_);
    DirState& state = dirs_[id];
    if (!imported) {
      if (!state.dirty) state.dirty_since = clock_.now();
      state.dirty = true;  // tried again at the next tick
      result = tl::unexpected(imported.error());
      continue;
    }
    const std::optional<crypto::Cid> old = state.own_root;
    state.own_root = imported->root;
    state.own_seq = std::max(state.own_seq + 1, hlc_.tick(backend_.wall_ms()).value);
    backend_.publish(id, LayerRef{self_, imported->root, state.own_seq});
    if (old) (void)store_.unpin(*old);
    if (old != imported->root) {
      backend_.added(imported->root);
      if (old) backend_.removed(*old);
    }
  }
  if (work.empty()) return result;
  // The index names the layers just published; the journal empties once nothing waits.
  std::vector<OwnState::Published> index;
  {
    Lock lock(mu_);
    for (const auto& [dir, state] : dirs_) {
      if (state.own_root) index.push_back({dir, *state.own_root, state.own_seq});
    }
  }
  if (auto written = own_state_->write_index(index); !written) return written;
  Lock lock(mu_);
  const bool any_dirty =
      std::any_of(dirs_.begin(), dirs_.end(), [](const auto& d) { return d.second.dirty; });
  if (!any_dirty) {
    if (auto cleared = own_state_->clear_journal(); !cleared) result = cleared;
  }
  return result;
}

void SharedFs::tick() {
  (void)publish_due(false);
  evict_cache();
}

core::Status SharedFs::publish_now() { return publish_due(true); }

void SharedFs::republish_all() {
  Lock lock(mu_);
  for (const auto& [id, state] : dirs_) {
    if (!state.own_root) continue;
    backend_.publish(id, LayerRef{self_, *state.own_root, state.own_seq});
    backend_.added(*state.own_root);
  }
}

}  // namespace synapse::fs
