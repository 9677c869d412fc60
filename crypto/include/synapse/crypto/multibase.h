// The multibase encodings Synapse uses for CIDs. Decoders bound nothing themselves: callers
// bound the input length (a CID string is at most Cid::kMaxTextSize characters).
#pragma once

#include <string>
#include <string_view>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"

namespace synapse::crypto {

// Bitcoin's base58 alphabet, as IPFS's base58btc (no multibase prefix).
std::string base58btc_encode(core::ByteView data);
core::Result<core::Bytes> base58btc_decode(std::string_view text);

// RFC 4648 base32, lower case, no padding, as multibase 'b' (no prefix here). The decoder
// accepts lower case only and rejects non-canonical trailing bits.
std::string base32_lower_encode(core::ByteView data);
core::Result<core::Bytes> base32_lower_decode(std::string_view text);

}  // namespace synapse::crypto
