// The multibase decoders with error positions shifted by `offset`, for callers that decode a
// substring (a CID after its multibase prefix) and report positions in the whole string.
#pragma once

#include <cstddef>
#include <string_view>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::crypto::internal {

core::Result<core::Bytes> base58btc_decode(std::string_view text, size_t offset);
core::Result<core::Bytes> base32_lower_decode(std::string_view text, size_t offset);

}  // namespace synapse::crypto::internal
