// LAN discovery beacons: sealing, opening, timing, group and interface choice. Sans-I/O. The
// only file of the dht module that calls Botan (AES-256-GCM and HKDF): Botan exceptions stop
// here.
#include "synapse/dht/discovery.h"

#include <botan/aead.h>
#include <botan/kdf.h>
#include <botan/mem_ops.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>

#include "synapse/dht/datagram_packet.h"

namespace synapse::dht {

namespace {

using SecureBytes = Botan::secure_vector<uint8_t>;

constexpr size_t kPortOffset = NodeId::kSize;
constexpr size_t kPaddingOffset = kPortOffset + 2;
constexpr size_t kNonceOffset = 1;
constexpr size_t kCiphertextOffset = kNonceOffset + BeaconSealer::kNonceSize;

[[noreturn]] void library_failed(const char* what, const std::exception& e) {
  core::check_failed(what, __FILE__, __LINE__, e.what());
}

core::Error rejected(std::string why) {
  return core::Error(core::ErrorCode::kInvalidArgument, "beacon: " + std::move(why));
}

}  // namespace

crypto::NoiseSecret beacon_key(const crypto::SwarmKey& swarm_key) {
  crypto::NoiseSecret key;
  try {
    std::unique_ptr<Botan::KDF> hkdf = Botan::KDF::create_or_throw("HKDF(SHA-256)");
    // An empty salt is HashLen zero bytes (RFC 5869, section 2.2).
    SecureBytes derived = hkdf->derive_key(
        crypto::kNoiseKeySize, swarm_key.secret().data(), swarm_key.secret().size(), nullptr, 0,
        reinterpret_cast<const uint8_t*>(kBeaconKeyInfo.data()), kBeaconKeyInfo.size());
    SYNAPSE_CHECK(derived.size() == crypto::kNoiseKeySize, "HKDF output size");
    std::copy(derived.begin(), derived.end(), key.data());
  } catch (const std::exception& e) {
    library_failed("Botan has HKDF(SHA-256)", e);
  }
  return key;
}

// ---------------------------------------------------------------------------------------------
// BeaconSealer.

struct BeaconSealer::Impl {
  // Botan keeps the key schedules in secure memory and wipes them on destruction.
  std::unique_ptr<Botan::AEAD_Mode> encryptor;
  std::unique_ptr<Botan::AEAD_Mode> decryptor;
};

BeaconSealer::BeaconSealer(const crypto::SwarmKey& swarm_key) : impl_(std::make_unique<Impl>()) {
  const crypto::NoiseSecret key = beacon_key(swarm_key);
  try {
    impl_->encryptor = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::ENCRYPTION);
    impl_->decryptor = Botan::AEAD_Mode::create_or_throw("AES-256/GCM", Botan::DECRYPTION);
    impl_->encryptor->set_key(key.bytes().data(), key.bytes().size());
    impl_->decryptor->set_key(key.bytes().data(), key.bytes().size());
  } catch (const std::exception& e) {
    library_failed("Botan has AES-256/GCM", e);
  }
  SYNAPSE_CHECK(impl_->encryptor->tag_size() == kTagSize, "GCM tag is 16 bytes");
}

BeaconSealer::BeaconSealer(BeaconSealer&&) noexcept = default;
BeaconSealer& BeaconSealer::operator=(BeaconSealer&&) noexcept = default;
BeaconSealer::~BeaconSealer() = default;

core::Bytes BeaconSealer::seal(const Beacon& beacon, core::Rng& rng) const {
  SYNAPSE_CHECK(impl_ != nullptr, "seal on a moved-from BeaconSealer");
  SYNAPSE_CHECK(beacon.port != 0, "a beacon names a port");
  core::Bytes packet(kPacketSize);
  packet[0] = kBeaconVersion;
  rng.fill(std::span<uint8_t>(packet.data() + kNonceOffset, kNonceSize));

  SecureBytes buffer(kPlaintextSize, 0);
  std::copy(beacon.node_id.bytes().begin(), beacon.node_id.bytes().end(), buffer.begin());
  put_u16(buffer.data() + kPortOffset, beacon.port);
  Botan::AEAD_Mode& mode = *impl_->encryptor;
  try {
    mode.set_associated_data(packet.data(), 1);
    mode.start(packet.data() + kNonceOffset, kNonceSize);
    mode.finish(buffer);
  } catch (const std::exception& e) {
    library_failed("AES-256/GCM encryption succeeds", e);
  }
  SYNAPSE_CHECK(buffer.size() == kPlaintextSize + kTagSize, "GCM output size");
  std::copy(buffer.begin(), buffer.end(), packet.begin() + kCiphertextOffset);
  return packet;
}

core::Result<Beacon> BeaconSealer::open(core::ByteView packet) const {
  SYNAPSE_CHECK(impl_ != nullptr, "open on a moved-from BeaconSealer");
  if (packet.size() != kPacketSize) {
    return tl::unexpected(rejected("packet of " + std::to_string(packet.size()) +
                                   " bytes, expected " + std::to_string(kPacketSize)));
  }
  if (packet[0] != kBeaconVersion) {
    return tl::unexpected(rejected("unknown version " + std::to_string(packet[0])));
  }
  SecureBytes buffer(packet.begin() + kCiphertextOffset, packet.end());
  Botan::AEAD_Mode& mode = *impl_->decryptor;
  try {
    mode.set_associated_data(packet.data(), 1);
    mode.start(packet.data() + kNonceOffset, kNonceSize);
    mode.finish(buffer);  // checks the tag in constant time; throws if it does not match
  } catch (const Botan::Invalid_Authentication_Tag&) {
    mode.reset();
    return tl::unexpected(rejected("failed authentication (another swarm key or tampered)"));
  } catch (const std::exception& e) {
    // Nothing else is expected for a packet of the right size; refuse it rather than crash.
    mode.reset();
    return tl::unexpected(rejected(std::string("cannot open: ") + e.what()));
  }
  if (buffer.size() != kPlaintextSize) return tl::unexpected(rejected("wrong plaintext size"));

  Beacon beacon;
  std::array<uint8_t, NodeId::kSize> id;
  std::copy(buffer.begin(), buffer.begin() + NodeId::kSize, id.begin());
  beacon.node_id = NodeId(id);
  beacon.port = get_u16(buffer.data() + kPortOffset);
  if (!std::all_of(buffer.begin() + kPaddingOffset, buffer.end(),
                   [](uint8_t b) { return b == 0; })) {
    return tl::unexpected(rejected("non-zero padding"));
  }
  if (beacon.port == 0) return tl::unexpected(rejected("port 0"));
  return beacon;
}

// ---------------------------------------------------------------------------------------------
// Timing.

core::Duration BeaconSchedule::next_delay(core::Rng& rng) {
  const core::Duration base = std::min(base_, interval_);
  base_ = std::min(base_ * 2, interval_);
  uint8_t random[4];
  rng.fill(random);
  const double unit = static_cast<double>(get_u32(random)) / 4294967296.0;  // [0, 1)
  const double factor = 0.8 + 0.4 * unit;
  return core::Duration(
      static_cast<core::Duration::rep>(static_cast<double>(base.count()) * factor));
}

void BeaconSchedule::restart() {
  SYNAPSE_CHECK(interval_.count() > 0, "the beacon interval is positive");
  base_ = std::min<core::Duration>(kFirstDelay, interval_);
}

// ---------------------------------------------------------------------------------------------
// Group and interfaces.

core::Status check_discovery_group(const Endpoint& group) {
  if (group.is_ipv6() || (group.address_bytes()[0] & 0xf0) != 0xe0) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "lan discovery: group " + group.to_string() +
                                " is not an IPv4 multicast address (224.0.0.0/4)");
  }
  if (group.port() == 0) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "lan discovery: group " + group.to_string() + " needs a port");
  }
  return core::ok();
}

core::Result<Endpoint> parse_discovery_group(std::string_view text) {
  auto group = Endpoint::parse(text);
  if (!group) return tl::unexpected(group.error().with_context("lan discovery group"));
  SYNAPSE_RETURN_IF_ERROR(check_discovery_group(*group));
  return *group;
}

core::Result<std::vector<NetworkInterface>> select_interfaces(
    const std::vector<NetworkInterface>& available, const std::vector<std::string>& names) {
  std::vector<NetworkInterface> chosen;
  if (!names.empty()) {
    for (const NetworkInterface& candidate : available) {
      const bool named = std::find(names.begin(), names.end(), candidate.name) != names.end();
      const bool seen = std::any_of(chosen.begin(), chosen.end(), [&](const NetworkInterface& c) {
        return c.name == candidate.name;
      });
      if (named && !seen) chosen.push_back(candidate);
    }
    for (const std::string& name : names) {
      auto it = std::find_if(chosen.begin(), chosen.end(),
                             [&](const NetworkInterface& c) { return c.name == name; });
      std::string problem;
      if (it == chosen.end()) {
        problem = "not found";
      } else if (!it->up) {
        problem = "is down";
      } else if (!it->has_ipv4) {
        problem = "has no IPv4 address";
      }
      if (!problem.empty()) {
        return core::make_error(core::ErrorCode::kIo,
                                "lan discovery: interface " + name + " " + problem);
      }
    }
    return chosen;
  }
  for (const NetworkInterface& candidate : available) {
    if (candidate.up && candidate.has_ipv4 && candidate.multicast && !candidate.loopback) {
      chosen.push_back(candidate);
    }
  }
  if (chosen.empty()) {
    for (const NetworkInterface& candidate : available) {
      if (candidate.up && candidate.has_ipv4 && candidate.loopback) chosen.push_back(candidate);
    }
  }
  if (chosen.empty()) {
    return core::make_error(core::ErrorCode::kIo,
                            "lan discovery: no interface is up with an IPv4 address");
  }
  return chosen;
}

}  // namespace synapse::dht
