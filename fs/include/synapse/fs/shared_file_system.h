// The shared tree: a FileSystem over this node's block store and a Backend that reaches the
// swarm (docs/filesystem.md).
//
// Writes are staged in scratch files while a file is open and committed on flush (every
// close()), fsync and release: the content is chunked into the block store (pinned), a record
// goes into this node's layer of the parent directory and into the journal (durable before
// close() returns), and the layer is published by tick() shortly after. Reads of content
// written elsewhere fetch it through the Backend on open. A directory's layers are revalidated
// when used more than `revalidate_after` after the last check, which gives close-to-open
// consistency across nodes.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "synapse/blockstore/block_store.h"
#include "synapse/blockstore/importer.h"
#include "synapse/core/clock.h"
#include "synapse/core/env.h"
#include "synapse/core/rng.h"
#include "synapse/fs/backend.h"
#include "synapse/fs/file_system.h"

namespace synapse::fs {

using namespace std::chrono_literals;

struct SharedOptions {
  std::filesystem::path state_dir;  // the journal, the layer index and scratch files
  blockstore::ImportOptions import;
  bool sync = true;                          // fdatasync the journal on every commit
  core::Duration revalidate_after = 500ms;   // directory layers older than this are rechecked
  core::Duration network_timeout = 10s;      // a lookup or a stalled fetch gives up (EIO)
  core::Duration fsync_timeout = 60s;        // waiting for the replication target
  core::Duration publish_delay = 100ms;      // changes are batched this long before publishing
  uint64_t cache_bytes = uint64_t{4} << 30;  // content fetched from others kept at most
};

// A local change the node's own users made: a file closed after writing, or a name renamed
// into place. `path` is the tree path ("jobs/wc.toml").
struct CommitNotice {
  std::string path;
  // Another handle of this node still has the file open for writing (a later close tells
  // again).
  bool open_for_writing = false;
  // Who made the change (CallerScope), when known.
  std::optional<uint32_t> uid;
};

// Opens of files whose content is another node's: served from blocks already here (hits) or
// fetched (misses), and the fetched content kept (SharedOptions::cache_bytes).
struct CacheStats {
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t files = 0;  // cached file contents
  uint64_t bytes = 0;
};

class SharedFileSystem : public FileSystem {
 public:
  // Called after every commit of a file through flush (close) or release, and after every
  // rename, on the thread that made the change, with no lock of the file system held; it must
  // not call back into the file system (post the work elsewhere). Set it before the file system
  // is used concurrently.
  virtual void set_commit_observer(std::function<void(const CommitNotice&)> observer) = 0;
  // Publishes the layers whose first unpublished change is at least `publish_delay` old. The
  // host calls it periodically (every ~50 ms) from any thread.
  virtual void tick() = 0;
  // Publishes every changed layer now.
  virtual core::Status publish_now() = 0;
  // Republishes every layer of this node (after a restart: the DHT keeps records in memory).
  virtual void republish_all() = 0;
  // Thread-safe.
  virtual CacheStats cache_stats() const = 0;
};

// `store`, `backend`, `env`, `clock` and `rng` must outlive the file system; `rng` is used under
// the file system's lock only.
core::Result<std::unique_ptr<SharedFileSystem>> open_shared_file_system(
    blockstore::BlockStore& store, Backend& backend, core::Env& env, const core::Clock& clock,
    core::Rng& rng, SharedOptions options);

}  // namespace synapse::fs
