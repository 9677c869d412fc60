// Fuzzes FileReader with an arbitrary root block whose links may point at a few stored blocks:
// reads must end in data or an error, never a crash, a hang or a read past a block.
#include <cstdlib>

#include "synapse/blockstore/file_reader.h"
#include "synapse/blockstore/memory_store.h"

using namespace synapse;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto store = blockstore::make_memory_store();
  // Two known raw leaves that a fuzzed root may link to by CID.
  blockstore::Block a = blockstore::Block::make(crypto::Codec::kRaw, core::Bytes(7, 'a'));
  blockstore::Block b = blockstore::Block::make(crypto::Codec::kRaw, core::Bytes(300, 'b'));
  if (!store->put(a) || !store->put(b)) std::abort();

  const uint8_t selector = data[0];
  core::Bytes bytes(data + 1, data + size);
  blockstore::Block root = blockstore::Block::make(
      selector & 1 ? crypto::Codec::kDagPb : crypto::Codec::kRaw, std::move(bytes));
  if (!store->put(root)) return 0;

  auto reader = blockstore::FileReader::open(*store, root.cid());
  if (!reader) return 0;
  uint64_t delivered = 0;
  const uint64_t offset = selector >> 1;
  auto status = reader->read(offset, 1 << 20, [&](core::ByteView piece) {
    delivered += piece.size();
    return core::ok();
  });
  if (status && delivered != (offset < reader->size() ? reader->size() - offset : 0) &&
      reader->size() < (1 << 20)) {
    std::abort();
  }
  return 0;
}
