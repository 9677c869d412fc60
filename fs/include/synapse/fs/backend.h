// Backend: what the shared file system needs from the rest of the node (the DHT, the block
// exchange, replication), injected so that the FileSystem core never touches a socket and runs
// the same against the daemon, a standalone folder or the DHT simulator.
//
// Thread-safety: every method may be called from any FileSystem thread, concurrently, without
// FileSystem locks held. Blocking methods give up after their timeout with kIo.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "synapse/core/clock.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"
#include "synapse/fs/entry.h"
#include "synapse/fs/file_system.h"

namespace synapse::fs {

// A writer's published layer of one directory ID.
struct LayerRef {
  WriterId writer{};
  crypto::Cid layer;  // root of the encoded layer, stored like a file
  uint64_t seq = 0;   // grows with every publication by this writer
};

class Backend {
 public:
  virtual ~Backend() = default;

  // This node's writer ID.
  virtual WriterId self() const = 0;
  // Wall-clock time in milliseconds since the Unix epoch (for HLCs and mtimes).
  virtual uint64_t wall_ms() = 0;

  // The latest layer of `dir` of every writer the swarm knows (this node's own may be among
  // them and is ignored). Blocks up to `timeout`; kIo if no peer could be asked.
  virtual core::Result<std::vector<LayerRef>> layers(const DirId& dir, core::Duration timeout) = 0;
  // Makes this node's layer of `dir` the one others see. Returns at once; the backend keeps
  // trying until the record is stored, and republishes it while the node runs.
  virtual void publish(const DirId& dir, const LayerRef& layer) = 0;

  // Makes every block of `root` local, asking `hint` (the writer that published it) first and
  // then the providers the DHT knows. Fails with kIo when no block arrived for `stall_timeout`.
  virtual core::Status fetch(const crypto::Cid& root, const WriterId& hint,
                             core::Duration stall_timeout) = 0;

  // Starts making `root` local in the background and returns at once; fetch() of the same root
  // meanwhile waits for that fetch. For reading a big file while it arrives (in file order).
  // The default does nothing: fetch() then does all the work.
  virtual void prefetch(const crypto::Cid& root, const WriterId& hint) {
    (void)root;
    (void)hint;
  }
  // True while a fetch of `root` runs.
  virtual bool fetching(const crypto::Cid& root) {
    (void)root;
    return false;
  }

  // `root` is now pinned here: announce it and replicate it to the target.
  virtual void added(const crypto::Cid& root) = 0;
  // `root` is no longer pinned here.
  virtual void removed(const crypto::Cid& root) = 0;
  // Waits until the replication target (capped by the swarm's size) holds every block of
  // `root`; kIo after `timeout`.
  virtual core::Status wait_replicated(const crypto::Cid& root, core::Duration timeout) = 0;

  // Capacity and free space of the swarm as this node knows it.
  virtual FsStats stats() = 0;
  // One text file per live peer for .peers/: (name, contents).
  virtual std::vector<std::pair<std::string, std::string>> peer_files() = 0;
};

}  // namespace synapse::fs
