// Fuzzes the reader of status.json (job_from_json): another node's job record, read to take a
// job over, must never crash the reader or throw; what decodes must encode to JSON that
// decodes to the same encoding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "synapse/compute/job.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace synapse;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto record = compute::job_from_json(text);
  if (!record) {
    if (record.error().code() != core::ErrorCode::kInvalidArgument) __builtin_trap();
    return 0;
  }
  const std::string json = compute::job_to_json(*record);
  auto again = compute::job_from_json(json);
  if (!again || compute::job_to_json(*again) != json) __builtin_trap();
  return 0;
}
