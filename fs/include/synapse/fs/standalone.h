// A FileSystem for one node with no network: the tree and the blocks live under one local
// folder. What the daemon mounts without peers, and what the mount's POSIX tests run against.
#pragma once

#include <filesystem>
#include <memory>

#include "synapse/core/result.h"
#include "synapse/fs/file_system.h"

namespace synapse::fs {

// Opens (creating if needed) a standalone file system whose state lives under `dir`
// (an LMDB block store in dir/blocks, the tree in dir/fs). Thread-safe like every FileSystem.
core::Result<std::unique_ptr<FileSystem>> open_standalone(const std::filesystem::path& dir);

}  // namespace synapse::fs
