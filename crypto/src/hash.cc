#include "synapse/crypto/hash.h"

#include <botan/hash.h>

namespace synapse::crypto {

namespace {

std::unique_ptr<Botan::HashFunction> new_sha256() {
  return Botan::HashFunction::create_or_throw("SHA-256");
}

}  // namespace

Sha256Digest sha256(core::ByteView data) {
  // One hash object per thread: sha256() runs on every ingested block, and creating a Botan
  // object per call would allocate on that hot path. final() resets it for the next call.
  thread_local const std::unique_ptr<Botan::HashFunction> hash = new_sha256();
  Sha256Digest digest;
  hash->update(data.data(), data.size());
  hash->final(digest.data());
  return digest;
}

struct Sha256::Impl {
  std::unique_ptr<Botan::HashFunction> hash = new_sha256();
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(core::ByteView data) { impl_->hash->update(data.data(), data.size()); }

Sha256Digest Sha256::finish() {
  Sha256Digest digest;
  impl_->hash->final(digest.data());
  return digest;
}

}  // namespace synapse::crypto
