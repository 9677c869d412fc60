// OwnState: what makes this node's own layers durable (docs/filesystem.md, "On disk").
//
//   <state>/layers.idx   the published layer of each directory ID: repeated
//                        [dir-id 32][cid length u8][cid bytes][seq u64 BE], replaced atomically
//   <state>/journal      records committed since the index was written: repeated
//                        [length u32 BE][dir-id 32][layer encoding of a one-record layer]
//
// A record is appended to the journal before close() returns; publishing a layer rewrites the
// index and, once no layer waits to be published, empties the journal. Replaying the journal
// over the indexed layers is idempotent. Not thread-safe: append() and clear_journal() run under
// the FileSystem's lock, write_index() under its publishing lock.
#pragma once

#include <filesystem>
#include <memory>
#include <utility>
#include <vector>

#include "synapse/core/env.h"
#include "synapse/fs/entry.h"

namespace synapse::fs {

class OwnState {
 public:
  struct Published {
    DirId dir{};
    crypto::Cid layer;
    uint64_t seq = 0;
  };
  struct Contents {
    std::vector<Published> published;
    std::vector<std::pair<DirId, Entry>> journal;  // in commit order
  };

  // Reads what is there (a torn last journal record is ignored) and opens the journal.
  static core::Result<std::pair<std::unique_ptr<OwnState>, Contents>> open(
      core::Env& env, const std::filesystem::path& dir, bool sync);

  core::Status append(const DirId& dir, const Entry& entry);
  // Replaces the index (atomically, with an fsync: call it without the file system's lock;
  // calls are serialised by the caller).
  core::Status write_index(const std::vector<Published>& published);
  // Empties the journal: every record in it is in a published layer.
  core::Status clear_journal();

 private:
  OwnState(core::Env& env, std::filesystem::path dir, bool sync)
      : env_(env), dir_(std::move(dir)), sync_(sync) {}

  core::Env& env_;
  std::filesystem::path dir_;
  bool sync_;
  std::unique_ptr<core::WritableFile> journal_;
};

}  // namespace synapse::fs
