// Admission of peers by membership certificate: the policy the node plugs into the handshake's
// admit hook, called once the handshake has proved the peer's identity key (and so its node
// ID) and the swarm key.
//
// Rules (docs/certificates.md):
//   - No CA configured: every holder of the swarm key is a member. A certificate the peer
//     presents is ignored (there is nothing to check it against) and the member has no roles.
//   - CA configured, certificate required: the peer must present a certificate that
//     verify_certificate_for() accepts for its node ID, at `now`, against the current
//     revocation list.
//   - CA configured, not required: a peer without a certificate is a member with no roles; a
//     peer that presents one must present a valid one (an invalid one is refused, never
//     silently dropped, so that a revoked or expired member cannot pass as an anonymous one
//     where anonymous members are allowed but may hold fewer rights).
//
// Thread-safe: admit(), member() and roles_of() may run concurrently with each other and with
// update_revocation_list(). Movable; a moved-from policy may only be destroyed or assigned to.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synapse/core/bytes.h"
#include "synapse/core/result.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"

namespace synapse::crypto {

struct AdmissionOptions {
  std::optional<Ed25519PublicKey> ca;
  bool require_certificate = false;
  std::optional<RevocationList> revocation_list;
};

// An admitted peer: its node ID and, when it presented a certificate that was checked, that
// certificate (name, roles, expiry). The node should drop the peer at certificate->not_after.
struct Member {
  NodeId node_id;
  std::optional<Certificate> certificate;

  // The certificate's roles, empty without one.
  const std::vector<std::string>& roles() const;
  bool has_role(std::string_view role) const;
};

class AdmissionPolicy {
 public:
  // Checks the options: require_certificate or a revocation list without a CA, and a list not
  // signed by the CA, are errors (kInvalidArgument / kPermissionDenied).
  static core::Result<AdmissionPolicy> create(AdmissionOptions options);

  // Decides on a peer whose identity the handshake proved. `certificate` holds the bytes the
  // peer sent (Certificate::encode() form), if any. Refusals are kPermissionDenied with a
  // one-line reason ("peer 1a2b3c4d has no certificate and this swarm requires one",
  // "peer 1a2b3c4d: certificate for 1a2b3c4d expired on 2026-11-01", ...).
  core::Result<Member> member(const NodeId& node_id, const std::optional<core::Bytes>& certificate,
                              int64_t now_unix) const;
  // member() without the details, for the handshake's admit hook.
  core::Status admit(const NodeId& node_id, const std::optional<core::Bytes>& certificate,
                     int64_t now_unix) const;
  // The roles an admitted peer holds (empty for a member without a certificate); the same
  // refusals as member().
  core::Result<std::vector<std::string>> roles_of(const NodeId& node_id,
                                                  const std::optional<core::Bytes>& certificate,
                                                  int64_t now_unix) const;

  // Installs a newer revocation list. Errors: no CA configured (kFailedPrecondition), not
  // signed by the CA (kPermissionDenied), a sequence not above the current list's
  // (kFailedPrecondition, the current list stays).
  core::Status update_revocation_list(RevocationList list);

  const std::optional<Ed25519PublicKey>& ca() const { return ca_; }
  bool require_certificate() const { return require_certificate_; }
  // The current list's sequence, 0 without one.
  uint64_t revocation_sequence() const;

  AdmissionPolicy(AdmissionPolicy&&) noexcept;
  AdmissionPolicy& operator=(AdmissionPolicy&&) noexcept;
  ~AdmissionPolicy();

 private:
  struct State;
  AdmissionPolicy(std::optional<Ed25519PublicKey> ca, bool require_certificate,
                  std::unique_ptr<State> state);

  std::optional<Ed25519PublicKey> ca_;
  bool require_certificate_ = false;
  std::unique_ptr<State> state_;
};

}  // namespace synapse::crypto
