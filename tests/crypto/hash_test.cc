#include "synapse/crypto/hash.h"

#include <gtest/gtest.h>

#include "synapse/core/rng.h"

namespace synapse::crypto {
namespace {

std::string hex(const Sha256Digest& digest) { return core::to_hex(digest); }

TEST(Sha256, MatchesTheFips180Vectors) {
  EXPECT_EQ(hex(sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex(sha256(core::as_bytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex(sha256(core::as_bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"))),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST(Sha256, RepeatedOneShotCallsOnLargeInputsGiveTheSameDigest) {
  core::Bytes data(1 << 20);
  core::SeededRng(1).fill(data);
  Sha256Digest first = sha256(data);
  EXPECT_EQ(sha256(data), first);
  data[12345] ^= 1;
  EXPECT_NE(sha256(data), first);
}

TEST(Sha256, IncrementalHashingMatchesOneShotHashing) {
  core::Bytes data(300 * 1024 + 7);
  core::SeededRng(2).fill(data);
  Sha256 hash;
  core::ByteView rest = data;
  core::SeededRng sizes(3);
  while (!rest.empty()) {
    size_t n = std::min<size_t>(rest.size(), sizes.next() % 70000);
    hash.update(rest.first(n));
    rest = rest.subspan(n);
  }
  EXPECT_EQ(hash.finish(), sha256(data));
}

TEST(Sha256, FinishResetsTheObjectForANewMessage) {
  Sha256 hash;
  hash.update(core::as_bytes("some earlier message"));
  hash.finish();
  hash.update(core::as_bytes("abc"));
  EXPECT_EQ(hash.finish(), sha256(core::as_bytes("abc")));
  EXPECT_EQ(hash.finish(), sha256({}));
}

TEST(Sha256, AMovedObjectKeepsItsState) {
  Sha256 hash;
  hash.update(core::as_bytes("ab"));
  Sha256 moved = std::move(hash);
  moved.update(core::as_bytes("c"));
  EXPECT_EQ(moved.finish(), sha256(core::as_bytes("abc")));
}

}  // namespace
}  // namespace synapse::crypto
