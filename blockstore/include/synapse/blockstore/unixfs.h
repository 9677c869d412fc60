// The UnixFS data message carried in the Data field of dag-pb file and directory nodes
// (https://github.com/ipfs/specs/blob/main/UNIXFS.md):
//
//   message Data {
//     required DataType Type = 1;   // Raw 0, Directory 1, File 2, Metadata 3, Symlink 4, HAMTShard
//     5 optional bytes Data = 2; optional uint64 filesize = 3; repeated uint64 blocksizes = 4;
//     optional uint64 hashType = 5;
//     optional uint64 fanout = 6;
//     optional uint32 mode = 7;
//     optional UnixTime mtime = 8;
//   }
//
// The encoder writes fields in that order and blocksizes unpacked, as the IPFS importers do, so
// our nodes hash to the same CIDs. The decoder accepts any field order and packed blocksizes.
#pragma once

#include <optional>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::blockstore {

enum class UnixfsType : uint64_t {
  kRaw = 0,
  kDirectory = 1,
  kFile = 2,
  kMetadata = 3,
  kSymlink = 4,
  kHamtShard = 5,
};

struct UnixfsData {
  UnixfsType type = UnixfsType::kFile;
  std::optional<core::Bytes> data;
  std::optional<uint64_t> filesize;
  std::vector<uint64_t> blocksizes;
  std::optional<uint64_t> hash_type;
  std::optional<uint64_t> fanout;
  std::optional<uint32_t> mode;
  std::optional<core::Bytes> mtime;  // the encoded UnixTime message, kept as it is

  friend bool operator==(const UnixfsData&, const UnixfsData&) = default;
};

core::Bytes encode_unixfs(const UnixfsData& data);
core::Result<UnixfsData> decode_unixfs(core::ByteView bytes);

}  // namespace synapse::blockstore
