#include "synapse/dht/peer_address.h"

#include <algorithm>

namespace synapse::dht {

core::Result<PeerAddress> PeerAddress::from_bytes(core::ByteView bytes) {
  if (bytes.size() > kMaxSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument, "peer address longer than 18 bytes");
  }
  PeerAddress address;
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  address.size_ = static_cast<uint8_t>(bytes.size());
  return address;
}

PeerAddress PeerAddress::from_u32(uint32_t value) {
  PeerAddress address;
  address.bytes_[0] = static_cast<uint8_t>(value >> 24);
  address.bytes_[1] = static_cast<uint8_t>(value >> 16);
  address.bytes_[2] = static_cast<uint8_t>(value >> 8);
  address.bytes_[3] = static_cast<uint8_t>(value);
  address.size_ = 4;
  return address;
}

uint32_t PeerAddress::to_u32() const {
  if (size_ != 4) return 0xffffffff;
  return (uint32_t{bytes_[0]} << 24) | (uint32_t{bytes_[1]} << 16) | (uint32_t{bytes_[2]} << 8) |
         uint32_t{bytes_[3]};
}

std::string PeerAddress::to_string() const { return core::to_hex(bytes()); }

}  // namespace synapse::dht
