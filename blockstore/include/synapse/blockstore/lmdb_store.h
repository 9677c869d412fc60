// The LMDB BlockStore: one LMDB environment in a folder (data.mdb, lock.mdb). On-disk layout:
// docs/storage.md. Only lmdb_store.cc and its helpers in lmdb_util.h call LMDB.
#pragma once

#include <filesystem>
#include <memory>

#include "synapse/blockstore/block_store.h"

namespace synapse::blockstore {

struct LmdbOptions {
  // Upper bound on the sum of block sizes (config key store.capacity).
  uint64_t capacity = 50ull << 30;
  // fsync every commit (config key store.sync). Without it (MDB_NOSYNC) a process crash still
  // loses nothing, but a power failure or kernel crash may lose the latest commits and, on file
  // systems that reorder writes, leave the store damaged: only for data that can be fetched
  // again.
  bool sync = true;
};

// Opens (creating if needed) the store in `folder`. Several processes may open one store; LMDB
// serializes their writers. Errors: kIo / kPermissionDenied from the OS, kCorrupt if the files
// are not an LMDB store of this layout.
core::Result<std::unique_ptr<BlockStore>> open_lmdb_store(const std::filesystem::path& folder,
                                                          const LmdbOptions& options);

}  // namespace synapse::blockstore
