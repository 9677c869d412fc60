#include "synapse/crypto/identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "synapse/crypto/hash.h"
#include "test_util.h"

namespace synapse::crypto {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// RFC 8032 section 7.1, test 1.
constexpr std::string_view kRfcSeed =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::string_view kRfcPublicKey =
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr std::string_view kRfcEmptyMessageSignature =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
    "46bd25bf5f0595bbe24655141438e7a100b";
// The RFC 8032 key as `openssl pkey` writes it (PKCS#8, RFC 8410).
constexpr std::string_view kRfcKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
    "-----END PRIVATE KEY-----\n";
// A 512-bit RSA key from `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:512`.
constexpr std::string_view kRsaKeyPem =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEAoh3zThkHDLEfVYYh\n"
    "7fsYOiKLADpJ2HqZOnWKXyhCJOc/pS5dqlhKHUHdQCVzimZ+V2Iejpt9MYilUt+y\n"
    "vIjqtQIDAQABAkAy7i/a0DgLv7V1W99a8XCKCwIaPzWl4dYzrGudO3uUNeXqLyv3\n"
    "38fGWTL+3WB7HUAUJQ3V2wcZ70AHbZjqV2ZdAiEA2BX6Azr4lvWV7UUkvf/xoLjV\n"
    "7M9JY6J7c74mUc4UqWMCIQDAD/SnI4SoUtE8D+/Lev3+9kERxMfl/wa0I93xNt1j\n"
    "BwIgaW+/wFfD+JT4hP/Z/8OlORE3gQdb/fvIVR+RPxVZS5UCIEw+yVAE0KgF4Jxo\n"
    "czijRewOlHxaU0Uh/eZLitM0haTHAiEAsXggf+UURKdYVpTW30Gv739H4spu9sXm\n"
    "zgZk5nyPaj8=\n"
    "-----END PRIVATE KEY-----\n";

NodeIdentity rfc_identity() {
  return NodeIdentity::from_seed(core::from_hex(kRfcSeed).value()).value();
}

core::Status write(const std::filesystem::path& path, std::string_view text) {
  return core::Env::posix().write_file_atomic(path, core::as_bytes(text), 0600, true);
}

std::string read(const std::filesystem::path& path) {
  core::Bytes bytes = core::Env::posix().read_file(path, 1 << 20).value();
  return std::string(core::as_chars(bytes));
}

std::string load_error(const std::filesystem::path& path) {
  auto identity = NodeIdentity::load(core::Env::posix(), path);
  EXPECT_FALSE(identity.has_value());
  return identity ? "" : identity.error().message();
}

TEST(NodeIdentity, FromSeedGivesTheRfc8032KeyAndSignature) {
  NodeIdentity identity = rfc_identity();
  EXPECT_EQ(core::to_hex(identity.public_key()), kRfcPublicKey);
  Ed25519Signature signature = identity.sign({});
  EXPECT_EQ(core::to_hex(signature), kRfcEmptyMessageSignature);
  EXPECT_TRUE(verify_signature(identity.public_key(), {}, signature));
}

TEST(NodeIdentity, NodeIdIsTheSha256OfThePublicKey) {
  NodeIdentity identity = rfc_identity();
  EXPECT_EQ(identity.node_id().bytes(), sha256(identity.public_key()));
  EXPECT_EQ(identity.node_id().to_hex(),
            "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9");
  EXPECT_EQ(identity.node_id().short_id(), "21fe31df");
  EXPECT_EQ(identity.node_id(), NodeId::of_public_key(identity.public_key()));
}

TEST(NodeIdentity, FromSeedRejectsSeedsThatAreNot32Bytes) {
  for (size_t size : {0, 31, 33, 64}) {
    auto identity = NodeIdentity::from_seed(core::Bytes(size, 1));
    ASSERT_FALSE(identity.has_value());
    EXPECT_EQ(identity.error().code(), core::ErrorCode::kInvalidArgument);
    EXPECT_THAT(identity.error().message(),
                HasSubstr("seed is " + std::to_string(size) + " bytes, expected 32"));
  }
}

TEST(NodeIdentity, GenerateDrawsTheKeyFromTheRng) {
  core::SeededRng a(1);
  core::SeededRng b(1);
  core::SeededRng c(2);
  NodeIdentity first = NodeIdentity::generate(a);
  EXPECT_EQ(NodeIdentity::generate(b).node_id(), first.node_id());
  EXPECT_NE(NodeIdentity::generate(c).node_id(), first.node_id());
  EXPECT_NE(NodeIdentity::generate(a).node_id(), first.node_id());
}

TEST(NodeIdentity, SurvivesAMove) {
  NodeIdentity identity = rfc_identity();
  NodeIdentity moved = std::move(identity);
  EXPECT_EQ(core::to_hex(moved.sign({})), kRfcEmptyMessageSignature);
  identity = std::move(moved);
  EXPECT_EQ(core::to_hex(identity.public_key()), kRfcPublicKey);
}

TEST(Ed25519, VerifyAcceptsASignatureOverTheSameMessage) {
  core::SeededRng rng(3);
  NodeIdentity identity = NodeIdentity::generate(rng);
  core::ByteView message = core::as_bytes("the message");
  EXPECT_TRUE(verify_signature(identity.public_key(), message, identity.sign(message)));
}

TEST(Ed25519, VerifyRejectsATamperedMessage) {
  core::SeededRng rng(4);
  NodeIdentity identity = NodeIdentity::generate(rng);
  Ed25519Signature signature = identity.sign(core::as_bytes("pay 10"));
  EXPECT_FALSE(verify_signature(identity.public_key(), core::as_bytes("pay 11"), signature));
  EXPECT_FALSE(verify_signature(identity.public_key(), {}, signature));
}

TEST(Ed25519, VerifyRejectsATamperedSignature) {
  core::SeededRng rng(5);
  NodeIdentity identity = NodeIdentity::generate(rng);
  core::ByteView message = core::as_bytes("message");
  Ed25519Signature signature = identity.sign(message);
  for (size_t i : {0, 31, 32, 63}) {
    Ed25519Signature tampered = signature;
    tampered[i] ^= 0x01;
    EXPECT_FALSE(verify_signature(identity.public_key(), message, tampered)) << "byte " << i;
  }
}

TEST(Ed25519, VerifyRejectsAnotherNodesKey) {
  core::SeededRng rng(6);
  NodeIdentity signer = NodeIdentity::generate(rng);
  NodeIdentity other = NodeIdentity::generate(rng);
  core::ByteView message = core::as_bytes("message");
  EXPECT_FALSE(verify_signature(other.public_key(), message, signer.sign(message)));
}

TEST(Ed25519, VerifyReturnsFalseForAKeyThatIsNotACurvePoint) {
  Ed25519PublicKey bad_key;
  bad_key.fill(0xff);
  Ed25519Signature signature{};
  EXPECT_FALSE(verify_signature(bad_key, core::as_bytes("message"), signature));
}

TEST(NodeId, ParseRoundTripsHex) {
  NodeId id = rfc_identity().node_id();
  EXPECT_EQ(NodeId::parse(id.to_hex()).value(), id);
}

TEST(NodeId, ParseRejectsTheWrongLengthAndBadDigits) {
  auto short_id = NodeId::parse("abcd");
  ASSERT_FALSE(short_id.has_value());
  EXPECT_THAT(short_id.error().message(), HasSubstr("64 hex digits, got 4"));
  auto bad = NodeId::parse(std::string(63, '0') + "g");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message(), HasSubstr("node ID: invalid hex digit"));
}

TEST(NodeIdentity, SaveWritesPkcs8PemWithMode0600AndLoadRestoresTheKey) {
  testing::TempDir dir;
  auto path = dir.path() / "node.key";
  ASSERT_TRUE(rfc_identity().save(core::Env::posix(), path, false).has_value());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(read(path), kRfcKeyPem);  // the same bytes as OpenSSL writes
  auto loaded = NodeIdentity::load(core::Env::posix(), path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(core::to_hex(loaded->public_key()), kRfcPublicKey);
  EXPECT_EQ(core::to_hex(loaded->sign({})), kRfcEmptyMessageSignature);
}

TEST(NodeIdentity, SaveRefusesToReplaceAFileUnlessAskedTo) {
  testing::TempDir dir;
  auto path = dir.path() / "node.key";
  ASSERT_TRUE(write(path, "precious").has_value());
  auto refused = rfc_identity().save(core::Env::posix(), path, false);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code(), core::ErrorCode::kAlreadyExists);
  EXPECT_EQ(read(path), "precious");
  ASSERT_TRUE(rfc_identity().save(core::Env::posix(), path, true).has_value());
  EXPECT_EQ(read(path), kRfcKeyPem);
}

TEST(NodeIdentity, LoadsAKeyWrittenByOpenssl) {
  testing::TempDir dir;
  auto path = dir.path() / "openssl.pem";
  ASSERT_TRUE(write(path, kRfcKeyPem).has_value());
  auto loaded = NodeIdentity::load(core::Env::posix(), path);
  ASSERT_TRUE(loaded.has_value()) << loaded.error().message();
  EXPECT_EQ(core::to_hex(loaded->public_key()), kRfcPublicKey);
}

TEST(NodeIdentity, LoadRejectsAFileThatIsNotPem) {
  testing::TempDir dir;
  auto path = dir.path() / "notes.txt";
  ASSERT_TRUE(write(path, "just some text\n").has_value());
  EXPECT_THAT(load_error(path), StartsWith(path.string() + " is not a PEM private key"));
}

TEST(NodeIdentity, LoadRejectsAnRsaKey) {
  testing::TempDir dir;
  auto path = dir.path() / "rsa.pem";
  ASSERT_TRUE(write(path, kRsaKeyPem).has_value());
  EXPECT_EQ(load_error(path), path.string() + " holds a key of type RSA, expected Ed25519");
}

TEST(NodeIdentity, LoadRejectsGarbageInsideAPemBlock) {
  testing::TempDir dir;
  auto path = dir.path() / "garbage.pem";
  ASSERT_TRUE(write(path, "-----BEGIN PRIVATE KEY-----\nAAAAAAAA\n-----END PRIVATE KEY-----\n")
                  .has_value());
  EXPECT_THAT(load_error(path), StartsWith(path.string() + " holds an invalid private key"));
}

TEST(NodeIdentity, LoadRejectsAnEncryptedKey) {
  testing::TempDir dir;
  auto path = dir.path() / "encrypted.pem";
  ASSERT_TRUE(write(path,
                    "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n"
                    "-----END ENCRYPTED PRIVATE KEY-----\n")
                  .has_value());
  EXPECT_THAT(load_error(path), HasSubstr("holds an encrypted private key"));
}

TEST(NodeIdentity, LoadReportsAMissingFile) {
  testing::TempDir dir;
  auto identity = NodeIdentity::load(core::Env::posix(), dir.path() / "missing.key");
  ASSERT_FALSE(identity.has_value());
  EXPECT_EQ(identity.error().code(), core::ErrorCode::kNotFound);
  EXPECT_THAT(identity.error().message(), HasSubstr("missing.key"));
}

TEST(NodeIdentity, LoadRejectsAnOversizedFile) {
  testing::TempDir dir;
  auto path = dir.path() / "big.pem";
  ASSERT_TRUE(write(path, std::string(kRfcKeyPem) + std::string(20000, '\n')).has_value());
  EXPECT_THAT(load_error(path), HasSubstr("is larger than 16384 bytes"));
}

}  // namespace
}  // namespace synapse::crypto
