// FsHost: the shared file system inside a running node, and its mount (docs/filesystem.md).
//
// The file system's Backend is served from the daemon's loop: FUSE worker threads post work
// through a uv_async handle and wait (bounded) for its answer. Directory layers are DHT values
// under the directory ID (data: 0x01, then the layer's CID bytes), signed by their writer and
// republished by the node; contents move through the DataService (fetch, announce, replicate).
//
// Threads: create(), loop_tick() and close() run on the loop thread; the file system's calls
// come from the mount's workers and from FsHost's publishing thread.
#pragma once

#include <uv.h>

#include <filesystem>
#include <memory>
#include <optional>

#include "data_service.h"
#include "synapse/crypto/identity.h"
#include "synapse/fs/file_system.h"
#include "synapse/fs/shared_file_system.h"

namespace synapse::daemon {

struct FsHostOptions {
  std::filesystem::path state_dir;             // <home>/fs
  std::optional<std::filesystem::path> mount;  // where to mount, if anywhere
  bool sync = true;
  uint64_t store_capacity = 0;
  uint64_t cache_bytes = uint64_t{4} << 30;
  core::Duration fsync_timeout = std::chrono::seconds(60);
  // mount::MountOptions::on_operation (the FUSE latency metrics); may be empty.
  std::function<void(const char*, std::chrono::nanoseconds)> on_fuse_operation;
};

class FsHost {
 public:
  static core::Result<std::unique_ptr<FsHost>> create(uv_loop_t* loop, FsHostOptions options,
                                                      const crypto::NodeIdentity& identity,
                                                      blockstore::BlockStore& store,
                                                      dht::NodeRuntime& runtime,
                                                      exchange::Exchange& exchange,
                                                      DataService& data);
  virtual ~FsHost() = default;

  // Republishes this node's layers (once the node has joined) and mounts.
  virtual core::Status start() = 0;
  // Refreshes what the backend caches from the loop (peers) and tells the DataService about
  // new pins; call a few times per second.
  virtual void loop_tick() = 0;
  // Fails pending calls, unmounts, stops publishing (after a last publication) and closes the
  // uv handle; `done` runs on the loop thread.
  virtual void close(std::function<void()> done) = 0;
  virtual fs::FileSystem& file_system() = 0;
  virtual fs::SharedFileSystem& shared_file_system() = 0;
  // More lines for a peer's /.peers file (its resources, from the jobs' adverts); called on the
  // loop thread by loop_tick(). May return "".
  virtual void set_peer_details(std::function<std::string(const crypto::NodeId&)> details) = 0;
};

}  // namespace synapse::daemon
