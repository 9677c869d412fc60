// Entry records, layers and hybrid logical clocks: the data model of the shared tree
// (docs/filesystem.md, "Model").
//
// A directory is one or more 256-bit directory IDs. Each writer (a node, named by its node ID)
// publishes, per directory ID, one *layer*: the latest record it wrote for each name there.
// A record carries its own version (hybrid logical clock, writer) and the versions it
// replaces: every record for that name its writer knew when it wrote. The directory's contents
// are the merge of all layers of all its IDs (resolve.h). Plain values; not thread-safe.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/cid.h"

namespace synapse::fs {

using DirId = std::array<uint8_t, 32>;
using WriterId = std::array<uint8_t, 32>;  // the writer's node ID

// The root directory's ID: the same on every node of every swarm.
const DirId& root_dir_id();

// A hybrid logical clock value: wall-clock milliseconds in the high 48 bits, a logical counter
// in the low 16, so it orders like a timestamp and still grows when clocks stall or step back.
struct Hlc {
  uint64_t value = 0;
  uint64_t wall_ms() const { return value >> 16; }
  friend auto operator<=>(const Hlc&, const Hlc&) = default;
};

// Issues HLC values; not thread-safe (the FileSystem calls it under its lock).
class HlcClock {
 public:
  // A value greater than every value issued or observed so far, from the wall clock `wall_ms`.
  Hlc tick(uint64_t wall_ms);
  // Takes note of a value seen in a record from elsewhere, so later ticks order after it.
  void observe(Hlc seen);
  Hlc last() const { return last_; }

 private:
  Hlc last_;
};

struct Version {
  Hlc hlc;
  WriterId writer{};
  friend auto operator<=>(const Version&, const Version&) = default;
};

enum class EntryKind : uint8_t { kFile = 1, kDirectory = 2, kSymlink = 3, kDeleted = 4 };

struct Entry {
  std::string name;
  EntryKind kind = EntryKind::kFile;
  Version version;
  std::vector<Version> replaces;       // sorted, no duplicates
  std::optional<crypto::Cid> content;  // file: the root of its contents; none for an empty file
  std::vector<DirId> dirs;             // directory: its IDs, sorted (several after a merge)
  std::string target;                  // symlink
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits, 07777
  int64_t mtime_ns = 0;

  friend bool operator==(const Entry&, const Entry&) = default;
};

// One writer's records in one directory ID, by name.
struct Layer {
  std::map<std::string, Entry> entries;
  friend bool operator==(const Layer&, const Layer&) = default;
};

// Decoder bounds (docs/filesystem.md, "Layer encoding").
inline constexpr size_t kMaxLayerEntries = 1'000'000;
inline constexpr size_t kMaxReplaces = 256;
inline constexpr size_t kMaxDirIds = 64;
inline constexpr size_t kMaxLayerBytes = 256 << 20;

// msgpack: [1, [entry, ...]], entry = [name, kind, hlc, writer, [[hlc, writer], ...],
// content-cid-bytes | nil, [dir-id, ...], target, size, mode, mtime_ns].
core::Bytes encode_layer(const Layer& layer);
// kInvalidArgument for anything malformed or over the bounds.
core::Result<Layer> decode_layer(core::ByteView bytes);

// Lower-case hex of the first 4 bytes of a writer ID: how conflict copies name their writer.
std::string short_writer(const WriterId& writer);

}  // namespace synapse::fs
