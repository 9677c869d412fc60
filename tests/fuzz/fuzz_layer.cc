// Fuzzes the directory layer codec of the shared folder (docs/filesystem.md, "Layer
// encoding"): decode_layer must never crash, throw or fail with anything but
// kInvalidArgument, and whatever decodes must encode to bytes that decode to the same layer,
// and must resolve without crashing.
#include <cstddef>
#include <cstdint>

#include "synapse/fs/entry.h"
#include "synapse/fs/resolve.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synapse;
  auto layer = fs::decode_layer(core::ByteView(data, size));
  if (!layer) {
    if (layer.error().code() != core::ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  auto again = fs::decode_layer(fs::encode_layer(*layer));
  if (!again || !(*again == *layer)) __builtin_trap();
  const fs::DirView view = fs::resolve({&*layer, &*again});
  if (view.size() > layer->entries.size()) __builtin_trap();
  return 0;
}
