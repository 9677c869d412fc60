// Primitives shared by the Noise sources: DH, HASH, HMAC and HKDF (Noise revision 34,
// sections 4 and 5), on Botan 2. Private to crypto/src.
#pragma once

#include <botan/hash.h>
#include <botan/mac.h>
#include <botan/secmem.h>

#include <memory>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/noise.h"

namespace synapse::crypto::noise_internal {

using SecureBytes = Botan::secure_vector<uint8_t>;

// DH(key_pair, public_key) for 25519. Fails with kPermissionDenied if the result is all zero,
// which happens exactly when the peer sent a low-order point: such a peer could force a known
// shared secret, so the handshake stops there.
core::Result<SecureBytes> x25519(const X25519KeyPair& local, const X25519PublicKey& remote);

// HASH and HKDF of one suite. Not thread-safe (reuses its Botan objects).
class HashSuite {
 public:
  explicit HashSuite(NoiseHash hash);

  size_t size() const { return size_; }
  // out = HASH(a || b); `out` gets size() bytes.
  void hash(core::ByteView a, core::ByteView b, core::Bytes& out);
  // HKDF(chaining_key, input_key_material, num_outputs) of section 4.3, num_outputs 2 or 3;
  // each output is size() bytes.
  void hkdf(core::ByteView chaining_key, core::ByteView input_key_material, SecureBytes& output1,
            SecureBytes& output2, SecureBytes* output3);

 private:
  size_t size_;
  std::unique_ptr<Botan::HashFunction> hash_;
  std::unique_ptr<Botan::MessageAuthenticationCode> hmac_;
};

}  // namespace synapse::crypto::noise_internal
