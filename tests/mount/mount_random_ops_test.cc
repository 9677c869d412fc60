// 100,000 random operations on one file through the mount, checked against the same operations
// on a model file outside it: after every read, every size change and at the end, byte for
// byte. SYNAPSE_SEED=<n> replays a run (the seed is printed on failure);
// SYNAPSE_MOUNT_RANDOM_OPS=<n> changes the number of operations.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <deque>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "mount_fixture.h"

namespace synapse::testing {
namespace {

constexpr size_t kDefaultOperations = 100'000;
constexpr uint64_t kMaxFileSize = 512 * 1024;

uint64_t seed_from_env() {
  if (const char* text = std::getenv("SYNAPSE_SEED")) return std::strtoull(text, nullptr, 10);
  return std::random_device{}() | (uint64_t{std::random_device{}()} << 32);
}

size_t operations_from_env() {
  if (const char* text = std::getenv("SYNAPSE_MOUNT_RANDOM_OPS")) {
    return std::strtoull(text, nullptr, 10);
  }
  return kDefaultOperations;
}

// The same file twice: in the mount and in a plain folder.
struct Pair {
  int mounted = -1;
  int model = -1;
  bool append = false;
};

class MountRandomOps : public MountedFixture {
 protected:
  std::chrono::seconds time_limit() const override { return std::chrono::seconds(300); }

  // The last operations, for the failure message.
  void note(std::string text) {
    history_.push_back(std::to_string(step_) + ": " + std::move(text));
    if (history_.size() > 16) history_.pop_front();
  }
  std::string history() const {
    std::ostringstream out;
    for (const auto& line : history_) out << "  " << line << "\n";
    return out.str();
  }

  size_t step_ = 0;
  std::deque<std::string> history_;
};

TEST_P(MountRandomOps, EveryReadMatchesAModelFileOnADisk) {
  const uint64_t seed = seed_from_env();
  SCOPED_TRACE("SYNAPSE_SEED=" + std::to_string(seed));
  const size_t operations = operations_from_env();
  std::mt19937_64 rng(seed);
  auto below = [&](uint64_t bound) { return bound == 0 ? 0 : rng() % bound; };
  const std::string mounted_path = at("file");
  const std::string model_path = (tmp_->path() / "model").string();

  Pair files;
  auto open_both = [&](int flags) {
    files.mounted = ::open(mounted_path.c_str(), flags | O_CLOEXEC, 0644);
    files.model = ::open(model_path.c_str(), flags | O_CLOEXEC, 0644);
    files.append = (flags & O_APPEND) != 0;
  };
  auto close_both = [&] {
    const int mounted = ::close(files.mounted);
    const int model = ::close(files.model);
    files.mounted = files.model = -1;
    return mounted == 0 && model == 0;
  };
  open_both(O_RDWR | O_CREAT | O_TRUNC);
  ASSERT_GE(files.mounted, 0) << std::strerror(errno);
  ASSERT_GE(files.model, 0) << std::strerror(errno);

  uint64_t size = 0;
  std::vector<char> data, got, want;
  const auto started = std::chrono::steady_clock::now();
  for (step_ = 0; step_ < operations; ++step_) {
    const uint64_t dice = below(1000);
    if (dice < 400) {  // write: mostly small, sometimes large, sometimes past the end
      uint64_t length = below(100) < 95 ? 1 + below(4096) : 1 + below(256 * 1024);
      uint64_t offset = below(100) < 10 ? size + below(64 * 1024) : below(size + 1);
      if (offset + length > kMaxFileSize) {
        offset = below(kMaxFileSize / 2);
        length = std::min<uint64_t>(length, kMaxFileSize - offset);
      }
      data.resize(length);
      for (char& c : data) c = static_cast<char>(rng());
      if (files.append && size + length > kMaxFileSize) {  // keep appends from growing forever
        const uint64_t new_size = below(kMaxFileSize / 2);
        note("ftruncate " + std::to_string(new_size) + " before appending");
        ASSERT_EQ(::ftruncate(files.model, static_cast<off_t>(new_size)), 0);
        ASSERT_EQ(::ftruncate(files.mounted, static_cast<off_t>(new_size)), 0)
            << std::strerror(errno) << "\n"
            << history();
      }
      ssize_t mounted, model;
      if (files.append) {
        note("append " + std::to_string(length));
        mounted = ::write(files.mounted, data.data(), length);
        model = ::write(files.model, data.data(), length);
      } else {
        note("pwrite " + std::to_string(length) + " at " + std::to_string(offset));
        mounted = ::pwrite(files.mounted, data.data(), length, static_cast<off_t>(offset));
        model = ::pwrite(files.model, data.data(), length, static_cast<off_t>(offset));
      }
      ASSERT_EQ(model, static_cast<ssize_t>(length)) << std::strerror(errno);
      ASSERT_EQ(mounted, model) << std::strerror(errno) << "\n" << history();
    } else if (dice < 800) {  // read at a random place, also past the end
      const uint64_t length = 1 + below(below(10) == 0 ? 200 * 1024 : 8192);
      const uint64_t offset = below(size + 4096);
      note("pread " + std::to_string(length) + " at " + std::to_string(offset));
      got.assign(length, 0);
      want.assign(length, 0);
      const ssize_t mounted = ::pread(files.mounted, got.data(), length, offset);
      const ssize_t model = ::pread(files.model, want.data(), length, offset);
      ASSERT_EQ(mounted, model) << std::strerror(errno) << "\n" << history();
      ASSERT_TRUE(std::equal(got.begin(), got.begin() + std::max<ssize_t>(model, 0), want.begin()))
          << "read differs\n"
          << history();
    } else if (dice < 900) {  // truncate: shrink or grow
      const uint64_t new_size = below(100) < 50 ? below(size + 1) : below(kMaxFileSize);
      note("ftruncate " + std::to_string(new_size));
      ASSERT_EQ(::ftruncate(files.model, static_cast<off_t>(new_size)), 0);
      ASSERT_EQ(::ftruncate(files.mounted, static_cast<off_t>(new_size)), 0)
          << std::strerror(errno) << "\n"
          << history();
    } else if (dice < 995) {  // fstat
      note("fstat");
    } else if (dice < 999) {  // close and reopen, sometimes appending or truncating
      const uint64_t how = below(10);
      const int flags = how < 6 ? O_RDWR : how < 9 ? O_RDWR | O_APPEND : O_RDWR | O_TRUNC;
      note("reopen with flags " + std::to_string(flags));
      ASSERT_TRUE(close_both()) << std::strerror(errno) << "\n" << history();
      open_both(flags);
      ASSERT_GE(files.model, 0);
      ASSERT_GE(files.mounted, 0) << std::strerror(errno) << "\n" << history();
    } else {
      note("fsync");
      ASSERT_EQ(::fsync(files.mounted), 0) << std::strerror(errno) << "\n" << history();
    }
    struct stat model_stat {
    }, mounted_stat{};
    ASSERT_EQ(::fstat(files.model, &model_stat), 0);
    ASSERT_EQ(::fstat(files.mounted, &mounted_stat), 0) << std::strerror(errno);
    size = static_cast<uint64_t>(model_stat.st_size);
    ASSERT_EQ(mounted_stat.st_size, model_stat.st_size) << "size differs\n" << history();
  }
  ASSERT_TRUE(close_both());

  // The whole file, through a fresh descriptor, and its size by path.
  auto slurp = [](const std::string& path) {
    std::string out;
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::string("<open failed>");
    char buffer[65536];
    ssize_t count;
    while ((count = ::read(fd, buffer, sizeof(buffer))) > 0) out.append(buffer, count);
    ::close(fd);
    return out;
  };
  const std::string model = slurp(model_path);
  const std::string mounted = slurp(mounted_path);
  EXPECT_EQ(mounted.size(), model.size());
  EXPECT_TRUE(mounted == model) << "final content differs\n" << history();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("%zu operations in %.1f s (%.0f per second), final size %zu\n", operations, seconds,
              operations / seconds, model.size());
}

INSTANTIATE_TEST_SUITE_P(Backends, MountRandomOps,
                         ::testing::Values(Backend::kStandalone, Backend::kMemory), backend_name);

}  // namespace
}  // namespace synapse::testing
