// Helpers shared by tests: temporary folders that clean up after themselves, seeded data.
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "synapse/core/bytes.h"
#include "synapse/core/rng.h"

namespace synapse::testing {

// A fresh folder under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base ? base : "/tmp") + "/synapse-test-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    if (made == nullptr) std::abort();
    path_ = made;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The seed of a randomized test: $SYNAPSE_SEED when set (to replay a failure), else a fresh one.
// Tests print it on failure (SCOPED_TRACE).
inline uint64_t test_seed() {
  if (const char* text = std::getenv("SYNAPSE_SEED")) return std::strtoull(text, nullptr, 10);
  return std::random_device{}() * uint64_t{0x9e3779b97f4a7c15} ^ std::random_device{}();
}

inline core::Bytes random_bytes(core::Rng& rng, size_t size) {
  core::Bytes out(size);
  rng.fill(out);
  return out;
}

}  // namespace synapse::testing
