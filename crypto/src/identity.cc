#include "synapse/crypto/identity.h"

#include <botan/data_src.h>
#include <botan/ed25519.h>
#include <botan/mem_ops.h>
#include <botan/pkcs8.h>
#include <botan/pubkey.h>
#include <botan/rng.h>

#include <exception>

#include "synapse/crypto/hash.h"

namespace synapse::crypto {

namespace {

constexpr size_t kSeedSize = 32;
// A PKCS#8 PEM Ed25519 key is about 120 bytes; anything much larger is not one.
constexpr size_t kMaxKeyFileSize = 16 * 1024;
constexpr uint32_t kKeyFileMode = 0600;
constexpr std::string_view kPemPrivateKey = "-----BEGIN PRIVATE KEY-----";
constexpr std::string_view kPemEncryptedKey = "-----BEGIN ENCRYPTED PRIVATE KEY-----";

// Zeroes a buffer that held key material when it goes out of scope.
template <typename Buffer>
class ScrubOnExit {
 public:
  explicit ScrubOnExit(Buffer& buffer) : buffer_(buffer) {}
  ~ScrubOnExit() { Botan::secure_scrub_memory(buffer_.data(), buffer_.size()); }
  ScrubOnExit(const ScrubOnExit&) = delete;
  ScrubOnExit& operator=(const ScrubOnExit&) = delete;

 private:
  Buffer& buffer_;
};

}  // namespace

// The private key lives in Botan's secure_vector (zeroed on release). `secret` is the 32-byte
// seed or Botan's 64-byte seed || public key form.
struct NodeIdentity::Key {
  explicit Key(const Botan::secure_vector<uint8_t>& secret) : private_key(secret) {}
  Botan::Ed25519_PrivateKey private_key;
};

NodeId NodeId::of_public_key(const Ed25519PublicKey& key) { return NodeId(sha256(key)); }

core::Result<NodeId> NodeId::parse(std::string_view hex) {
  if (hex.size() != 2 * kSize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "node ID must be 64 hex digits, got " + std::to_string(hex.size()));
  }
  auto bytes = core::from_hex(hex);
  if (!bytes) return tl::unexpected(bytes.error().with_context("node ID"));
  std::array<uint8_t, kSize> array;
  std::copy(bytes->begin(), bytes->end(), array.begin());
  return NodeId(array);
}

std::string NodeId::to_hex() const { return core::to_hex(bytes_); }

std::string NodeId::short_id() const { return to_hex().substr(0, 8); }

NodeIdentity::NodeIdentity(std::unique_ptr<Key> key) : key_(std::move(key)) {
  const std::vector<uint8_t>& public_key = key_->private_key.get_public_key();
  SYNAPSE_CHECK(public_key.size() == public_key_.size(), "Ed25519 public key must be 32 bytes");
  std::copy(public_key.begin(), public_key.end(), public_key_.begin());
  node_id_ = NodeId::of_public_key(public_key_);
}

NodeIdentity::NodeIdentity(NodeIdentity&&) noexcept = default;
NodeIdentity& NodeIdentity::operator=(NodeIdentity&&) noexcept = default;
NodeIdentity::~NodeIdentity() = default;

NodeIdentity NodeIdentity::generate(core::Rng& rng) {
  Botan::secure_vector<uint8_t> seed(kSeedSize);
  rng.fill(seed);
  return NodeIdentity(std::make_unique<Key>(seed));
}

core::Result<NodeIdentity> NodeIdentity::from_seed(core::ByteView seed) {
  if (seed.size() != kSeedSize) {
    return core::make_error(
        core::ErrorCode::kInvalidArgument,
        "Ed25519 seed is " + std::to_string(seed.size()) + " bytes, expected 32");
  }
  return NodeIdentity(
      std::make_unique<Key>(Botan::secure_vector<uint8_t>(seed.begin(), seed.end())));
}

core::Result<NodeIdentity> NodeIdentity::load(core::Env& env, const std::filesystem::path& path) {
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes file, env.read_file(path, kMaxKeyFileSize));
  ScrubOnExit scrub_file(file);
  std::string_view text = core::as_chars(file);
  auto invalid = [&](std::string_view problem) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            path.string() + " " + std::string(problem));
  };
  if (text.find(kPemEncryptedKey) != std::string_view::npos) {
    return invalid("holds an encrypted private key; Synapse needs an unencrypted one");
  }
  if (text.find(kPemPrivateKey) == std::string_view::npos) {
    return invalid("is not a PEM private key (expected \"-----BEGIN PRIVATE KEY-----\")");
  }
  try {
    Botan::DataSource_Memory source(file.data(), file.size());
    std::unique_ptr<Botan::Private_Key> key = Botan::PKCS8::load_key(source);
    if (key->algo_name() != "Ed25519") {
      return invalid("holds a key of type " + key->algo_name() + ", expected Ed25519");
    }
    const auto& ed25519 = dynamic_cast<const Botan::Ed25519_PrivateKey&>(*key);
    return NodeIdentity(std::make_unique<Key>(ed25519.get_private_key()));
  } catch (const std::exception& e) {
    return invalid(std::string("holds an invalid private key: ") + e.what());
  }
}

core::Status NodeIdentity::save(core::Env& env, const std::filesystem::path& path,
                                bool overwrite) const {
  std::string pem;
  try {
    pem = Botan::PKCS8::PEM_encode(key_->private_key);
  } catch (const std::exception& e) {
    return core::make_error(core::ErrorCode::kInternal,
                            std::string("cannot encode the node key: ") + e.what());
  }
  ScrubOnExit scrub_pem(pem);
  return env.write_file_atomic(path, core::as_bytes(pem), kKeyFileMode, overwrite);
}

Ed25519Signature NodeIdentity::sign(core::ByteView message) const {
  Ed25519Signature signature;
  try {
    // Ed25519 signing is deterministic and never reads the RNG that Botan's API asks for.
    Botan::Null_RNG no_rng;
    Botan::PK_Signer signer(key_->private_key, no_rng, "Pure");
    std::vector<uint8_t> bytes = signer.sign_message(message.data(), message.size(), no_rng);
    SYNAPSE_CHECK(bytes.size() == signature.size(), "Ed25519 signature must be 64 bytes");
    std::copy(bytes.begin(), bytes.end(), signature.begin());
  } catch (const std::exception& e) {
    core::check_failed("Ed25519 signing succeeds", __FILE__, __LINE__, e.what());
  }
  return signature;
}

bool verify_signature(const Ed25519PublicKey& key, core::ByteView message,
                      const Ed25519Signature& signature) {
  try {
    Botan::Ed25519_PublicKey public_key(key.data(), key.size());
    Botan::PK_Verifier verifier(public_key, "Pure");
    return verifier.verify_message(message.data(), message.size(), signature.data(),
                                   signature.size());
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace synapse::crypto
