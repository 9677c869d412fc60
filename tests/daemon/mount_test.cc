// The shared folder across nodes in network namespaces (docs/filesystem.md): each node runs
// `synapse up --mount DIR`; the test works on the mounts with plain tools, as a user would.
// The nodes enter their namespace's network only (nsenter), so their mounts are visible here.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <fstream>
#include <thread>

#include "cli/run_command.h"
#include "mounted_swarm.h"

namespace synapse::daemon {
namespace {

using namespace std::chrono_literals;
using namespace harness;
namespace fsys = std::filesystem;

// The guarantee under test: an open() that starts at least 1 s after close() returned on
// another node sees the new content. Waiting out that second is the point, not a guess.
constexpr auto kCloseToOpen = 1100ms;

synapse::testing::CommandResult sh(const std::string& command,
                                   std::chrono::seconds timeout = 120s) {
  return synapse::testing::run_command({"/bin/bash", "-c", command}, "", timeout);
}

class SharedFolder : public MountedSwarm {
 protected:
  // Starts node i (a new home the first time) with its mount at <dir>/mnt<i>.
  void start(size_t i) {
    while (swarm_.size() <= i) {
      const size_t home = swarm_.add_home();
      swarm_.configure(home, "[store]\nsync = false\nrepair_interval = \"2s\"\n");
    }
    MountedSwarm::start(i);
  }
};

TEST_F(SharedFolder, WritesRenamesAndRemovalsOnOneNodeAreSeenOnEveryOther) {
  ASSERT_NO_FATAL_FAILURE(make_namespaces(4, "10.82.0"));
  for (size_t i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(start(i));
  ASSERT_NO_FATAL_FAILURE(wait_for_peers({0, 1, 2}));
  const fsys::path a = mount_dir(0), b = mount_dir(1), c = mount_dir(2);

  // Written on A (the big file with fsync: it returns once 3 nodes hold it), read on B and C.
  fsys::create_directories(a / "docs" / "deep");
  write_text(a / "docs" / "hello.txt", "hello from A\n");
  const auto written =
      sh("head -c 20000000 /dev/urandom > " + (swarm_.dir().path() / "big.src").string() +
         " && dd if=" + (swarm_.dir().path() / "big.src").string() +
         " of=" + (a / "docs" / "big.bin").string() + " bs=1M conv=fsync status=none");
  ASSERT_EQ(written.exit_code, 0) << written.err << swarm_.log(0);
  fsys::create_symlink("hello.txt", a / "docs" / "link");
  std::this_thread::sleep_for(kCloseToOpen);
  for (const fsys::path& reader : {b, c}) {
    EXPECT_EQ(read_text(reader / "docs" / "hello.txt"), "hello from A\n") << reader;
    EXPECT_EQ(sh("cmp " + (swarm_.dir().path() / "big.src").string() + " " +
                 (reader / "docs" / "big.bin").string())
                  .exit_code,
              0)
        << reader;
    EXPECT_EQ(fsys::read_symlink(reader / "docs" / "link"), "hello.txt");
    EXPECT_TRUE(fsys::is_directory(reader / "docs" / "deep"));
  }

  // Changes on B reach A and C: rename, unlink, mkdir, rmdir, symlink, chmod, truncate.
  fsys::rename(b / "docs" / "hello.txt", b / "docs" / "renamed.txt");
  fsys::remove(b / "docs" / "link");
  fsys::create_directory(b / "docs" / "made-on-b");
  fsys::remove(b / "docs" / "deep");
  fsys::create_symlink("renamed.txt", b / "docs" / "link2");
  ASSERT_EQ(::chmod((b / "docs" / "renamed.txt").c_str(), 0600), 0);
  fsys::resize_file(b / "docs" / "big.bin", 1000);
  std::this_thread::sleep_for(kCloseToOpen);
  for (const fsys::path& reader : {a, c}) {
    EXPECT_FALSE(fsys::exists(reader / "docs" / "hello.txt")) << reader;
    EXPECT_EQ(read_text(reader / "docs" / "renamed.txt"), "hello from A\n") << reader;
    EXPECT_FALSE(fsys::is_symlink(reader / "docs" / "link")) << reader;
    EXPECT_EQ(fsys::read_symlink(reader / "docs" / "link2"), "renamed.txt") << reader;
    EXPECT_TRUE(fsys::is_directory(reader / "docs" / "made-on-b")) << reader;
    EXPECT_FALSE(fsys::exists(reader / "docs" / "deep")) << reader;
    struct stat st {};
    ASSERT_EQ(::stat((reader / "docs" / "renamed.txt").c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0600u) << reader;
    EXPECT_EQ(fsys::file_size(reader / "docs" / "big.bin"), 1000u) << reader;
  }

  // Concurrent writes to one path on two sides of a partition: after healing, every node
  // shows the same winner and one conflict copy.
  const std::string cut =
      "ip -n " + namespaces_->name(2) + " link set sn2i" + std::to_string(::getpid()) + " ";
  ASSERT_EQ(sh(cut + "down").exit_code, 0);
  write_text(a / "docs" / "plan.txt", "plan of A\n");
  write_text(c / "docs" / "plan.txt", "plan of C\n");
  ASSERT_EQ(sh(cut + "up").exit_code, 0);
  const auto plan_copies = [&](const fsys::path& root) {
    std::vector<std::string> names;
    for (const auto& entry : fsys::directory_iterator(root / "docs")) {
      const std::string name = entry.path().filename();
      if (name.rfind("plan.txt", 0) == 0) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_TRUE(eventually(
      [&] {
        const auto names = plan_copies(a);
        return names.size() == 2 && plan_copies(b) == names && plan_copies(c) == names;
      },
      30s))
      << "A sees " << plan_copies(a).size() << ", B " << plan_copies(b).size() << ", C "
      << plan_copies(c).size() << " copies of plan.txt";
  const auto names = plan_copies(a);
  ASSERT_EQ(names.size(), 2u);
  EXPECT_EQ(names[1].rfind("plan.txt.conflict-", 0), 0u) << names[1];
  std::set<std::string> contents{read_text(b / "docs" / names[0]),
                                 read_text(b / "docs" / names[1])};
  EXPECT_EQ(contents, (std::set<std::string>{"plan of A\n", "plan of C\n"}));

  // A node that joins later sees everything; with the writer gone (once what it wrote has
  // its replicas), its files still read.
  ASSERT_NO_FATAL_FAILURE(start(3));
  ASSERT_NO_FATAL_FAILURE(wait_for_peers({0, 1, 2, 3}));
  const auto replicated = [&] {
    auto pins = swarm_.cli(0, {"pin", "ls", "--json"});
    const json list = json::parse(pins.out, nullptr, false);
    if (pins.exit_code != 0 || !list.is_array() || list.empty()) return false;
    return std::all_of(list.begin(), list.end(), [](const json& pin) {
      return pin["holders"].is_number() && pin["holders"] >= pin["target"];
    });
  };
  ASSERT_TRUE(eventually(replicated, 150s)) << [&] {
    auto pins = swarm_.cli(0, {"pin", "ls"});
    std::string logs;
    for (size_t i = 0; i < 4; ++i) logs += "--- node " + std::to_string(i) + "\n" + swarm_.log(i);
    return "pin ls: exit " + std::to_string(pins.exit_code) + "\n" + pins.out + pins.err + logs;
  }();
  std::cout << "[ replicas ] node 0's files all have their replicas" << std::endl;
  EXPECT_EQ(swarm_.down(0), 0) << swarm_.log(0);
  const fsys::path d = mount_dir(3);
  EXPECT_EQ(read_text(d / "docs" / "renamed.txt"), "hello from A\n");
  EXPECT_EQ(fsys::file_size(d / "docs" / "big.bin"), 1000u);
  EXPECT_TRUE(fsys::is_directory(d / "docs" / "made-on-b"));
  EXPECT_EQ(plan_copies(d), names);
}

TEST_F(SharedFolder, TarOfTenThousandFilesOnOneNodeMatchesOnAnother) {
  ASSERT_NO_FATAL_FAILURE(make_namespaces(3, "10.83.0"));
  for (size_t i = 0; i < 3; ++i) ASSERT_NO_FATAL_FAILURE(start(i));
  ASSERT_NO_FATAL_FAILURE(wait_for_peers({0, 1, 2}));
  const fsys::path work = swarm_.dir().path();
  // 100 folders of 100 small files, each naming itself.
  ASSERT_EQ(
      sh("cd " + work.string() +
         " && for d in $(seq 0 99); do mkdir -p tree/d$d; for f in $(seq 0 99); do "
         "echo \"file $d/$f $RANDOM\" > tree/d$d/f$f.txt; done; done && tar -cf tree.tar tree")
          .exit_code,
      0);
  const auto untar = sh("tar -xf " + (work / "tree.tar").string() + " -C " + mount_dir(0).string());
  ASSERT_EQ(untar.exit_code, 0) << untar.err;
  std::this_thread::sleep_for(kCloseToOpen);
  const auto copy =
      sh("mkdir -p " + (work / "back").string() + " && tar -cf - -C " + mount_dir(1).string() +
         " tree | tar -xf - -C " + (work / "back").string() + " && diff -r " +
         (work / "tree").string() + " " + (work / "back" / "tree").string());
  EXPECT_EQ(copy.exit_code, 0) << copy.out << copy.err;
  const auto grep = sh("cd " + mount_dir(2).string() +
                       " && find tree -type f | xargs grep -l 'file 42/' | wc -l");
  EXPECT_EQ(grep.exit_code, 0) << grep.err;
  EXPECT_EQ(grep.out, "100\n");
}

}  // namespace
}  // namespace synapse::daemon
