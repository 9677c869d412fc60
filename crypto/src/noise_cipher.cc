// Keys, DH, hashing and CipherState for Noise (revision 34, sections 4 and 5.1), on Botan 2.
#include <botan/aead.h>
#include <botan/curve25519.h>
#include <botan/exceptn.h>
#include <botan/mem_ops.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>

#include "noise_internal.h"
#include "synapse/crypto/noise.h"

namespace synapse::crypto {

namespace {

using noise_internal::SecureBytes;

constexpr size_t kNonceSize = 12;

// Botan errors here mean a broken build or library (a missing algorithm), never bad input:
// every input-dependent failure (a bad tag) is caught where it can happen.
[[noreturn]] void library_failed(const char* what, const std::exception& e) {
  core::check_failed(what, __FILE__, __LINE__, e.what());
}

std::array<uint8_t, kNonceSize> nonce_bytes(NoiseCipher cipher, uint64_t nonce) {
  std::array<uint8_t, kNonceSize> bytes{};
  for (size_t i = 0; i < 8; ++i) {
    auto byte = static_cast<uint8_t>(nonce >> (8 * i));
    // ChaChaPoly: little-endian; AESGCM: big-endian (sections 12.3 and 12.4).
    bytes[cipher == NoiseCipher::kChaChaPoly ? 4 + i : kNonceSize - 1 - i] = byte;
  }
  return bytes;
}

const char* botan_name(NoiseCipher cipher) {
  return cipher == NoiseCipher::kChaChaPoly ? "ChaCha20Poly1305" : "AES-256/GCM";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Keys.

core::Result<NoiseSecret> NoiseSecret::from_bytes(core::ByteView bytes) {
  if (bytes.size() != kNoiseKeySize) {
    return core::make_error(core::ErrorCode::kInvalidArgument,
                            "noise: key is " + std::to_string(bytes.size()) + " bytes, expected " +
                                std::to_string(kNoiseKeySize));
  }
  NoiseSecret secret;
  std::copy(bytes.begin(), bytes.end(), secret.bytes_.begin());
  return secret;
}

NoiseSecret& NoiseSecret::operator=(const NoiseSecret& other) {
  bytes_ = other.bytes_;
  return *this;
}

NoiseSecret::~NoiseSecret() { Botan::secure_scrub_memory(bytes_.data(), bytes_.size()); }

X25519KeyPair X25519KeyPair::generate(core::Rng& rng) {
  NoiseSecret private_key;
  rng.fill(std::span<uint8_t>(private_key.data(), kNoiseKeySize));
  return from_private_key(private_key);
}

X25519KeyPair X25519KeyPair::from_private_key(const NoiseSecret& private_key) {
  X25519PublicKey public_key;
  Botan::curve25519_basepoint(public_key.data(), private_key.bytes().data());
  return X25519KeyPair(private_key, public_key);
}

core::Result<X25519KeyPair> X25519KeyPair::from_private_key(core::ByteView private_key) {
  SYNAPSE_ASSIGN_OR_RETURN(NoiseSecret secret, NoiseSecret::from_bytes(private_key));
  return from_private_key(secret);
}

namespace noise_internal {

core::Result<SecureBytes> x25519(const X25519KeyPair& local, const X25519PublicKey& remote) {
  SecureBytes shared(kNoiseKeySize);
  Botan::curve25519_donna(shared.data(), local.private_key().bytes().data(), remote.data());
  uint8_t any_bit = 0;
  for (uint8_t byte : shared) any_bit |= byte;  // constant-time: no early exit
  if (any_bit == 0) {
    return core::make_error(core::ErrorCode::kPermissionDenied,
                            "noise: the peer's public key is a low-order point");
  }
  return shared;
}

// ---------------------------------------------------------------------------------------------
// HASH, HMAC-HASH and HKDF (section 4.3).

HashSuite::HashSuite(NoiseHash hash) : size_(noise_hash_size(hash)) {
  const char* name = hash == NoiseHash::kSha256   ? "SHA-256"
                     : hash == NoiseHash::kSha512 ? "SHA-512"
                                                  : "BLAKE2b(512)";
  try {
    hash_ = Botan::HashFunction::create_or_throw(name);
    hmac_ = Botan::MessageAuthenticationCode::create_or_throw(std::string("HMAC(") + name + ")");
  } catch (const std::exception& e) {
    library_failed("Botan has the Noise hash functions", e);
  }
  SYNAPSE_CHECK(hash_->output_length() == size_ && hmac_->output_length() == size_,
                "Noise hash output length");
}

void HashSuite::hash(core::ByteView a, core::ByteView b, core::Bytes& out) {
  out.resize(size_);
  hash_->update(a.data(), a.size());
  hash_->update(b.data(), b.size());
  hash_->final(out.data());
}

void HashSuite::hkdf(core::ByteView chaining_key, core::ByteView input_key_material,
                     SecureBytes& output1, SecureBytes& output2, SecureBytes* output3) {
  SecureBytes temp_key(size_);
  hmac_->set_key(chaining_key.data(), chaining_key.size());
  hmac_->update(input_key_material.data(), input_key_material.size());
  hmac_->final(temp_key.data());

  hmac_->set_key(temp_key);
  output1.resize(size_);
  hmac_->update(0x01);
  hmac_->final(output1.data());

  output2.resize(size_);
  hmac_->update(output1);
  hmac_->update(0x02);
  hmac_->final(output2.data());

  if (output3 != nullptr) {
    output3->resize(size_);
    hmac_->update(output2);
    hmac_->update(0x03);
    hmac_->final(output3->data());
  }
  hmac_->clear();  // drops the key schedule of temp_key
}

}  // namespace noise_internal

// ---------------------------------------------------------------------------------------------
// CipherState (section 5.1).

struct NoiseCipherState::Impl {
  Impl(NoiseCipher cipher_in, const NoiseSecret& key) : cipher(cipher_in) {
    try {
      encryptor = Botan::AEAD_Mode::create_or_throw(botan_name(cipher), Botan::ENCRYPTION);
      decryptor = Botan::AEAD_Mode::create_or_throw(botan_name(cipher), Botan::DECRYPTION);
      encryptor->set_key(key.bytes().data(), key.bytes().size());
      decryptor->set_key(key.bytes().data(), key.bytes().size());
    } catch (const std::exception& e) {
      library_failed("Botan has the Noise ciphers", e);
    }
    SYNAPSE_CHECK(encryptor->tag_size() == kNoiseTagSize && decryptor->tag_size() == kNoiseTagSize,
                  "Noise AEAD tag is 16 bytes");
  }

  NoiseCipher cipher;
  // Botan keeps the key schedules in secure memory and wipes them on destruction.
  std::unique_ptr<Botan::AEAD_Mode> encryptor;
  std::unique_ptr<Botan::AEAD_Mode> decryptor;
};

NoiseCipherState::NoiseCipherState() = default;
NoiseCipherState::NoiseCipherState(NoiseCipher cipher, const NoiseSecret& key)
    : impl_(std::make_unique<Impl>(cipher, key)) {}
NoiseCipherState::NoiseCipherState(NoiseCipherState&&) noexcept = default;
NoiseCipherState& NoiseCipherState::operator=(NoiseCipherState&&) noexcept = default;
NoiseCipherState::~NoiseCipherState() = default;

bool NoiseCipherState::has_key() const { return impl_ != nullptr; }

std::optional<NoiseCipher> NoiseCipherState::cipher() const {
  if (!impl_) return std::nullopt;
  return impl_->cipher;
}

void NoiseCipherState::seal_into(uint64_t nonce, core::ByteView ad, core::ByteView plaintext,
                                 core::Bytes& out) const {
  SYNAPSE_CHECK(impl_ != nullptr, "seal_into needs a key");
  SYNAPSE_CHECK(nonce <= kMaxNonce, "the nonce 2^64-1 is reserved");
  Botan::AEAD_Mode& mode = *impl_->encryptor;
  try {
    // Botan copies the associated data, so it may point into `out`, which grows below.
    std::array<uint8_t, kNonceSize> iv = nonce_bytes(impl_->cipher, nonce);
    mode.set_associated_data(ad.data(), ad.size());
    mode.start(iv.data(), iv.size());
    const size_t base = out.size();
    out.resize(base + plaintext.size() + kNoiseTagSize);
    uint8_t* buffer = out.data() + base;
    if (!plaintext.empty()) std::memcpy(buffer, plaintext.data(), plaintext.size());
    // The bulk is encrypted in place in `out`; only the last partial block and the tag pass
    // through the secure_vector that finish() wants.
    const size_t granularity = mode.update_granularity();
    const size_t bulk = plaintext.size() - plaintext.size() % granularity;
    if (bulk > 0) {
      SYNAPSE_CHECK(mode.process(buffer, bulk) == bulk, "AEAD processes in place");
    }
    SecureBytes tail(buffer + bulk, buffer + plaintext.size());
    mode.finish(tail);
    SYNAPSE_CHECK(tail.size() == plaintext.size() - bulk + kNoiseTagSize, "AEAD output size");
    std::copy(tail.begin(), tail.end(), buffer + bulk);
  } catch (const std::exception& e) {
    library_failed("AEAD encryption succeeds", e);
  }
}

core::Status NoiseCipherState::open_into(uint64_t nonce, core::ByteView ad,
                                         core::ByteView ciphertext, core::Bytes& out) const {
  SYNAPSE_CHECK(impl_ != nullptr, "open_into needs a key");
  SYNAPSE_CHECK(nonce <= kMaxNonce, "the nonce 2^64-1 is reserved");
  if (ciphertext.size() < kNoiseTagSize) {
    return core::make_error(
        core::ErrorCode::kInvalidArgument,
        "noise: ciphertext is " + std::to_string(ciphertext.size()) + " bytes, shorter than a tag");
  }
  Botan::AEAD_Mode& mode = *impl_->decryptor;
  const size_t base = out.size();
  const size_t plaintext_size = ciphertext.size() - kNoiseTagSize;
  uint8_t* buffer = nullptr;
  try {
    // Botan copies the associated data, so it may point into `out`, which grows below.
    std::array<uint8_t, kNonceSize> iv = nonce_bytes(impl_->cipher, nonce);
    mode.set_associated_data(ad.data(), ad.size());
    mode.start(iv.data(), iv.size());
    out.resize(base + ciphertext.size());
    buffer = out.data() + base;
    std::memcpy(buffer, ciphertext.data(), ciphertext.size());
    const size_t granularity = mode.update_granularity();
    const size_t bulk = plaintext_size - plaintext_size % granularity;
    if (bulk > 0) {
      SYNAPSE_CHECK(mode.process(buffer, bulk) == bulk, "AEAD processes in place");
    }
    SecureBytes tail(buffer + bulk, buffer + ciphertext.size());
    mode.finish(tail);  // checks the tag in constant time; throws if it does not match
    SYNAPSE_CHECK(tail.size() == plaintext_size - bulk, "AEAD output size");
    std::copy(tail.begin(), tail.end(), buffer + bulk);
  } catch (const Botan::Invalid_Authentication_Tag&) {
    // Unauthenticated plaintext must not survive: wipe what process() wrote.
    if (buffer != nullptr) Botan::secure_scrub_memory(buffer, ciphertext.size());
    out.resize(base);
    mode.reset();
    return core::make_error(core::ErrorCode::kPermissionDenied,
                            "noise: message failed authentication");
  } catch (const std::exception& e) {
    library_failed("AEAD decryption either succeeds or rejects the tag", e);
  }
  out.resize(base + plaintext_size);
  return core::ok();
}

core::Result<core::Bytes> NoiseCipherState::encrypt_with_ad(core::ByteView ad,
                                                            core::ByteView plaintext) {
  if (!impl_) return core::Bytes(plaintext.begin(), plaintext.end());
  if (nonce_ > kMaxNonce) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "noise: nonces exhausted");
  }
  core::Bytes out;
  out.reserve(plaintext.size() + kNoiseTagSize);
  seal_into(nonce_, ad, plaintext, out);
  ++nonce_;
  return out;
}

core::Result<core::Bytes> NoiseCipherState::decrypt_with_ad(core::ByteView ad,
                                                            core::ByteView ciphertext) {
  if (!impl_) return core::Bytes(ciphertext.begin(), ciphertext.end());
  if (nonce_ > kMaxNonce) {
    return core::make_error(core::ErrorCode::kFailedPrecondition, "noise: nonces exhausted");
  }
  core::Bytes out;
  SYNAPSE_RETURN_IF_ERROR(open_into(nonce_, ad, ciphertext, out));
  ++nonce_;
  return out;
}

void NoiseCipherState::rekey() {
  SYNAPSE_CHECK(impl_ != nullptr, "rekey needs a key");
  // seal_into refuses the reserved nonce, so REKEY calls Botan directly.
  SecureBytes block(kNoiseKeySize, 0);
  try {
    std::array<uint8_t, kNonceSize> iv = nonce_bytes(impl_->cipher, UINT64_MAX);
    impl_->encryptor->set_associated_data(nullptr, 0);
    impl_->encryptor->start(iv.data(), iv.size());
    impl_->encryptor->finish(block);
  } catch (const std::exception& e) {
    library_failed("AEAD encryption succeeds", e);
  }
  NoiseSecret key;
  std::copy(block.begin(), block.begin() + kNoiseKeySize, key.data());
  NoiseCipher cipher = impl_->cipher;
  impl_ = std::make_unique<Impl>(cipher, key);
}

}  // namespace synapse::crypto
