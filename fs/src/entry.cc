// The layer codec: the only file of fs/ that calls msgpack.
#include "synapse/fs/entry.h"

#include <algorithm>

#include "synapse/core/msgpack_codec.h"
#include "synapse/crypto/hash.h"

namespace synapse::fs {

using core::ErrorCode;
using core::make_error;
using namespace core::msgpack_codec;

namespace {

constexpr uint64_t kLayerVersion = 1;
constexpr size_t kEntryFields = 11;

template <typename Packer>
void pack_version(Packer& packer, const Version& version) {
  packer.pack_array(2);
  packer.pack(version.hlc.value);
  packer.pack_bin(version.writer.size());
  packer.pack_bin_body(reinterpret_cast<const char*>(version.writer.data()), version.writer.size());
}

template <size_t N>
std::array<uint8_t, N> as_array(const msgpack::object& o) {
  const core::ByteView bytes = as_bin(o, N);
  if (bytes.size() != N) fail("wrong length of an ID");
  std::array<uint8_t, N> out;
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

std::string as_string(const msgpack::object& o, size_t max) {
  if (o.type != msgpack::type::STR) fail("expected a string");
  if (o.via.str.size > max) fail("string over its limit");
  return std::string(o.via.str.ptr, o.via.str.size);
}

Version read_version(const msgpack::object& o) {
  const auto& fields = as_list(o, 2);
  if (fields.size != 2) fail("a version has two fields");
  return Version{Hlc{as_uint(fields.ptr[0])}, as_array<32>(fields.ptr[1])};
}

Entry read_entry(const msgpack::object& o) {
  const auto& fields = as_list(o, kEntryFields);
  if (fields.size != kEntryFields) fail("wrong number of entry fields");
  const msgpack::object* f = fields.ptr;
  Entry entry;
  entry.name = as_string(f[0], 255);
  if (entry.name.empty() || entry.name == "." || entry.name == ".." ||
      entry.name.find('/') != std::string::npos || entry.name.find('\0') != std::string::npos) {
    fail("invalid entry name");
  }
  const uint64_t kind = as_uint(f[1], 4);
  if (kind < 1) fail("unknown entry kind");
  entry.kind = static_cast<EntryKind>(kind);
  entry.version = Version{Hlc{as_uint(f[2])}, as_array<32>(f[3])};
  const auto& replaces = as_list(f[4], kMaxReplaces);
  for (uint32_t i = 0; i < replaces.size; ++i)
    entry.replaces.push_back(read_version(replaces.ptr[i]));
  if (!std::is_sorted(entry.replaces.begin(), entry.replaces.end())) fail("unsorted replaces");
  if (f[5].type != msgpack::type::NIL) {
    auto cid = crypto::Cid::from_bytes(as_bin(f[5], crypto::Cid::kMaxBinarySize));
    if (!cid) fail("invalid content CID");
    entry.content = *cid;
  }
  const auto& dirs = as_list(f[6], kMaxDirIds);
  for (uint32_t i = 0; i < dirs.size; ++i) entry.dirs.push_back(as_array<32>(dirs.ptr[i]));
  if (!std::is_sorted(entry.dirs.begin(), entry.dirs.end())) fail("unsorted directory IDs");
  if ((entry.kind == EntryKind::kDirectory) != !entry.dirs.empty()) {
    fail("directory IDs belong to directories");
  }
  entry.target = as_string(f[7], 4095);
  entry.size = as_uint(f[8]);
  entry.mode = static_cast<uint32_t>(as_uint(f[9], 07777));
  if (f[10].type == msgpack::type::NEGATIVE_INTEGER) {
    entry.mtime_ns = f[10].via.i64;
  } else {
    entry.mtime_ns = static_cast<int64_t>(as_uint(f[10], INT64_MAX));
  }
  return entry;
}

}  // namespace

const DirId& root_dir_id() {
  static const DirId id = [] {
    const std::string_view label = "synapse/fs/root/v1";
    const auto digest = crypto::sha256(
        core::ByteView(reinterpret_cast<const uint8_t*>(label.data()), label.size()));
    DirId out;
    std::copy(digest.begin(), digest.end(), out.begin());
    return out;
  }();
  return id;
}

Hlc HlcClock::tick(uint64_t wall_ms) {
  const uint64_t wall = std::min<uint64_t>(wall_ms, (uint64_t{1} << 48) - 1) << 16;
  last_.value = wall > last_.value ? wall : last_.value + 1;
  return last_;
}

void HlcClock::observe(Hlc seen) { last_ = std::max(last_, seen); }

core::Bytes encode_layer(const Layer& layer) {
  core::Bytes out;
  ByteSink sink(out);
  msgpack::packer<ByteSink> packer(sink);
  packer.pack_array(2);
  packer.pack(kLayerVersion);
  packer.pack_array(static_cast<uint32_t>(layer.entries.size()));
  for (const auto& [name, entry] : layer.entries) {
    packer.pack_array(kEntryFields);
    packer.pack(entry.name);
    packer.pack(static_cast<uint64_t>(entry.kind));
    packer.pack(entry.version.hlc.value);
    packer.pack_bin(32);
    packer.pack_bin_body(reinterpret_cast<const char*>(entry.version.writer.data()), 32);
    packer.pack_array(static_cast<uint32_t>(entry.replaces.size()));
    for (const Version& version : entry.replaces) pack_version(packer, version);
    if (entry.content) {
      const core::Bytes cid = entry.content->to_bytes();
      packer.pack_bin(cid.size());
      packer.pack_bin_body(reinterpret_cast<const char*>(cid.data()), cid.size());
    } else {
      packer.pack_nil();
    }
    packer.pack_array(static_cast<uint32_t>(entry.dirs.size()));
    for (const DirId& dir : entry.dirs) {
      packer.pack_bin(32);
      packer.pack_bin_body(reinterpret_cast<const char*>(dir.data()), 32);
    }
    packer.pack(entry.target);
    packer.pack(entry.size);
    packer.pack(entry.mode);
    packer.pack(entry.mtime_ns);
  }
  return out;
}

core::Result<Layer> decode_layer(core::ByteView bytes) {
  if (bytes.size() > kMaxLayerBytes) {
    return make_error(ErrorCode::kInvalidArgument, "directory layer over the size limit");
  }
  msgpack::zone zone;
  try {
    const msgpack::unpack_limit limit(kMaxLayerEntries, 0, 4096, 64, 0, 5);
    size_t offset = 0;
    bool referenced = false;
    const msgpack::object root =
        msgpack::unpack(zone, reinterpret_cast<const char*>(bytes.data()), bytes.size(), offset,
                        referenced, reference_bin, nullptr, limit);
    if (offset != bytes.size()) fail("trailing bytes after the layer");
    const auto& top = as_list(root, 2);
    if (top.size != 2) fail("not a layer");
    if (as_uint(top.ptr[0]) != kLayerVersion) fail("unsupported layer version");
    const auto& entries = as_list(top.ptr[1], kMaxLayerEntries);
    Layer layer;
    for (uint32_t i = 0; i < entries.size; ++i) {
      Entry entry = read_entry(entries.ptr[i]);
      const std::string name = entry.name;
      if (!layer.entries.emplace(name, std::move(entry)).second) fail("a name appears twice");
    }
    return layer;
  } catch (const DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("directory layer: ") + e.what);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInvalidArgument, std::string("directory layer: ") + e.what());
  } catch (...) {
    return make_error(ErrorCode::kInvalidArgument, "directory layer: undecodable");
  }
}

std::string short_writer(const WriterId& writer) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < 4; ++i) {
    out += kHex[writer[i] >> 4];
    out += kHex[writer[i] & 15];
  }
  return out;
}

}  // namespace synapse::fs
