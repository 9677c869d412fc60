#include "synapse/crypto/admission.h"

#include <algorithm>
#include <mutex>

namespace synapse::crypto {

using core::ErrorCode;

// The revocation list is the only state that changes; admit() copies the pointer under the
// lock and checks against that snapshot, so updates never wait for a check to finish.
struct AdmissionPolicy::State {
  mutable std::mutex mutex;
  std::shared_ptr<const RevocationList> revocation_list;
};

const std::vector<std::string>& Member::roles() const {
  static const std::vector<std::string> kNoRoles;
  return certificate ? certificate->roles : kNoRoles;
}

bool Member::has_role(std::string_view role) const {
  return certificate && certificate->has_role(role);
}

AdmissionPolicy::AdmissionPolicy(std::optional<Ed25519PublicKey> ca, bool require_certificate,
                                 std::unique_ptr<State> state)
    : ca_(ca), require_certificate_(require_certificate), state_(std::move(state)) {}

AdmissionPolicy::AdmissionPolicy(AdmissionPolicy&&) noexcept = default;
AdmissionPolicy& AdmissionPolicy::operator=(AdmissionPolicy&&) noexcept = default;
AdmissionPolicy::~AdmissionPolicy() = default;

core::Result<AdmissionPolicy> AdmissionPolicy::create(AdmissionOptions options) {
  if (!options.ca && options.require_certificate) {
    return core::make_error(ErrorCode::kInvalidArgument,
                            "requiring certificates needs a CA public key to check them against");
  }
  auto state = std::make_unique<State>();
  if (options.revocation_list) {
    if (!options.ca) {
      return core::make_error(ErrorCode::kInvalidArgument,
                              "a revocation list needs a CA public key to check it against");
    }
    SYNAPSE_RETURN_IF_ERROR(verify_revocation_list(*options.revocation_list, *options.ca));
    state->revocation_list =
        std::make_shared<const RevocationList>(std::move(*options.revocation_list));
  }
  return AdmissionPolicy(options.ca, options.require_certificate, std::move(state));
}

core::Result<Member> AdmissionPolicy::member(const NodeId& node_id,
                                             const std::optional<core::Bytes>& certificate,
                                             int64_t now_unix) const {
  Member member{node_id, std::nullopt};
  // Without a CA there is nothing to check a certificate against: the swarm key admits.
  if (!ca_) return member;
  std::string peer = "peer " + node_id.short_id();
  if (!certificate) {
    if (!require_certificate_) return member;
    return core::make_error(ErrorCode::kPermissionDenied,
                            peer + " has no certificate and this swarm requires one");
  }
  auto decoded = Certificate::decode(*certificate);
  if (!decoded) {
    return core::make_error(ErrorCode::kPermissionDenied,
                            peer + " sent an unreadable certificate: " + decoded.error().message());
  }
  std::shared_ptr<const RevocationList> revocation_list;
  {
    std::lock_guard lock(state_->mutex);
    revocation_list = state_->revocation_list;
  }
  auto verified = verify_certificate_for(node_id, *decoded, *ca_, now_unix, revocation_list.get());
  if (!verified) return tl::unexpected(verified.error().with_context(peer));
  member.certificate = std::move(*decoded);
  return member;
}

core::Status AdmissionPolicy::admit(const NodeId& node_id,
                                    const std::optional<core::Bytes>& certificate,
                                    int64_t now_unix) const {
  SYNAPSE_RETURN_IF_ERROR(member(node_id, certificate, now_unix));
  return core::ok();
}

core::Result<std::vector<std::string>> AdmissionPolicy::roles_of(
    const NodeId& node_id, const std::optional<core::Bytes>& certificate, int64_t now_unix) const {
  SYNAPSE_ASSIGN_OR_RETURN(Member admitted, member(node_id, certificate, now_unix));
  return admitted.roles();
}

core::Status AdmissionPolicy::update_revocation_list(RevocationList list) {
  if (!ca_) {
    return core::make_error(ErrorCode::kFailedPrecondition,
                            "no CA is configured, so revocation lists do not apply");
  }
  SYNAPSE_RETURN_IF_ERROR(verify_revocation_list(list, *ca_));
  auto next = std::make_shared<const RevocationList>(std::move(list));
  std::lock_guard lock(state_->mutex);
  if (state_->revocation_list && state_->revocation_list->sequence >= next->sequence) {
    return core::make_error(ErrorCode::kFailedPrecondition,
                            "revocation list " + std::to_string(next->sequence) +
                                " is not newer than the current one (" +
                                std::to_string(state_->revocation_list->sequence) + ")");
  }
  state_->revocation_list = std::move(next);
  return core::ok();
}

uint64_t AdmissionPolicy::revocation_sequence() const {
  std::lock_guard lock(state_->mutex);
  return state_->revocation_list ? state_->revocation_list->sequence : 0;
}

}  // namespace synapse::crypto
