// Fuzzes the certificate and revocation list decoders, binary and armored, and the admission
// policy on arbitrary certificate bytes. Whatever decodes must re-encode to the same bytes (and
// re-armor to text that decodes to the same value); every error is one non-empty line.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "synapse/core/rng.h"
#include "synapse/crypto/admission.h"
#include "synapse/crypto/certificate.h"

namespace {

using synapse::core::ByteView;
using synapse::crypto::AdmissionPolicy;
using synapse::crypto::Certificate;
using synapse::crypto::RevocationList;

void check(bool condition) {
  if (!condition) std::abort();
}

template <typename T>
void check_error(const synapse::core::Result<T>& result) {
  if (result) return;
  const std::string& message = result.error().message();
  check(!message.empty() && message.find('\n') == std::string::npos);
}

const AdmissionPolicy& policy() {
  static AdmissionPolicy* policy = [] {
    synapse::core::SeededRng rng(1);
    auto ca = synapse::crypto::CertificateAuthority::generate(rng);
    return new AdmissionPolicy(AdmissionPolicy::create({ca.public_key(), true, {}}).value());
  }();
  return *policy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView bytes(data, size);
  std::string_view text(reinterpret_cast<const char*>(data), size);

  auto certificate = Certificate::decode(bytes);
  check_error(certificate);
  if (certificate) {
    check(certificate->encode() == synapse::core::Bytes(bytes.begin(), bytes.end()));
    check(Certificate::from_armored(certificate->to_armored()).value() == *certificate);
    // Checking against its own issuer exercises the signature path; must not crash.
    auto verified = synapse::crypto::verify_certificate(*certificate, certificate->issuer,
                                                        certificate->not_before, nullptr);
    check_error(verified);
  }
  auto admitted = policy().member(synapse::crypto::NodeId(),
                                  synapse::core::Bytes(bytes.begin(), bytes.end()), 0);
  check_error(admitted);

  auto list = RevocationList::decode(bytes);
  check_error(list);
  if (list) {
    check(list->encode() == synapse::core::Bytes(bytes.begin(), bytes.end()));
    check(RevocationList::from_armored(list->to_armored()).value() == *list);
    check_error(synapse::crypto::verify_revocation_list(*list, list->issuer));
  }

  auto armored_certificate = Certificate::from_armored(text);
  check_error(armored_certificate);
  if (armored_certificate) {
    check(Certificate::decode(armored_certificate->encode()).value() == *armored_certificate);
    check(Certificate::from_armored(armored_certificate->to_armored()).value() ==
          *armored_certificate);
  }
  auto armored_list = RevocationList::from_armored(text);
  check_error(armored_list);
  if (armored_list) {
    check(RevocationList::decode(armored_list->encode()).value() == *armored_list);
    check(RevocationList::from_armored(armored_list->to_armored()).value() == *armored_list);
  }
  return 0;
}
