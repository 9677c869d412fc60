// Jobs across real nodes in network namespaces (docs/jobs.md): specs copied into the mount of
// one node run in a sandbox on the node that fits best, their state, logs and outputs show on
// every node, limits and isolation hold, and a coordinator or worker that dies hands its work
// on. The nodes enter their namespace's network only, so their mounts are visible here.
#include <gtest/gtest.h>
#include <sys/mount.h>

#include <fstream>
#include <thread>

#include "cli/run_command.h"
#include "mounted_swarm.h"

namespace synapse::daemon {
namespace {

using namespace std::chrono_literals;
using namespace harness;
namespace fsys = std::filesystem;

// Processes whose command line contains `marker` (other than this test's own).
int processes_with(const std::string& marker) {
  int count = 0;
  for (const auto& entry : fsys::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = read_text(entry.path() / "cmdline");
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(marker) != std::string::npos &&
        cmdline.find("jobs_test") == std::string::npos) {
      ++count;
    }
  }
  return count;
}

class Jobs : public MountedSwarm {
 protected:
  void SetUp() override {
    MountedSwarm::SetUp();
    if (IsSkipped()) return;
    if (synapse::testing::run_command({"/bin/sh", "-c", "command -v bwrap"}).exit_code != 0) {
      GTEST_SKIP() << "needs bubblewrap";
    }
  }
};

TEST_F(Jobs, AJobCopiedInOnOneNodeRunsWhereItsInputIsAndItsOutputsShowEverywhere) {
  // One copy of every file: the input stays on the node that wrote it.
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.91.0", "replication = 1\n"));
  const fsys::path books = mount_dir(1) / "datasets" / "books";
  fsys::create_directories(books);
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "word" + std::to_string(i % 97) + " ";
  write_text(books / "a.txt", text);
  write_text(books / "b.txt", text + "extra ");
  std::this_thread::sleep_for(1100ms);  // close-to-open: visible everywhere a second later
  submit(0, "wordcount",
         "command = [\"sh\", \"-c\", \"cat /in/*.txt | wc -w > /out/count\"]\n"
         "inputs = { \"/in\" = \"/synapse/datasets/books\" }\n"
         "outputs = { \"/out\" = \"/synapse/results/wordcount\" }\n");
  ASSERT_EQ(wait_done(0, "wordcount"), "succeeded")
      << read_text(job_dir(0, "wordcount") / "stderr") << log_of(0) << log_of(1);
  EXPECT_EQ(node_of(0, "wordcount"), id_of(1)) << "ran elsewhere than on the holder of its input";
  // The outputs, the link to them and the job's files on every node.
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(eventually(
        [&] { return read_text(mount_dir(i) / "results" / "wordcount" / "count") == "40001\n"; },
        10s))
        << "node " << i << ": " << read_text(mount_dir(i) / "results" / "wordcount" / "count");
    EXPECT_EQ(fsys::read_symlink(job_dir(i, "wordcount") / "outputs" / "out"),
              "../../../results/wordcount");
    EXPECT_EQ(read_text(job_dir(i, "wordcount") / "outputs" / "out" / "count"), "40001\n");
    EXPECT_EQ(read_text(job_dir(i, "wordcount") / "exit_code"), "0\n");
    EXPECT_NE(read_text(job_dir(i, "wordcount") / "events.log").find("succeeded"),
              std::string::npos);
    EXPECT_TRUE(fsys::exists(job_dir(i, "wordcount") / "spec.toml"));
    // Consumed (the kernel of the node it was copied on may show its name for its entry
    // timeout, 1 s).
    EXPECT_TRUE(
        eventually([&] { return !fsys::exists(mount_dir(i) / "jobs" / "wordcount.toml"); }, 3s))
        << "node " << i;
  }
}

TEST_F(Jobs, LimitsEndJobsAsOutOfMemoryOrTimedOutAndTheSandboxHidesTheHost) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.92.0"));
  fsys::create_directories(mount_dir(2) / "data");
  write_text(mount_dir(2) / "data" / "in.txt", "read me\n");
  std::this_thread::sleep_for(1100ms);
  submit(0, "hog",
         "command = [\"tail\", \"/dev/zero\"]\n[resources]\nmemory = \"64M\"\nretries = 0\n");
  submit(1, "sleepy", "command = [\"sleep\", \"60\"]\n[resources]\ntimeout = \"2s\"\n");
  // Everything a sandbox must not do, each step's outcome on its own line.
  submit(2, "probe",
         "command = [\"sh\", \"-c\", \"\"\"\n"
         "id -u\n"
         "cat /etc/shadow >/dev/null 2>&1 && echo shadow-read || echo shadow-denied\n"
         "bash -c 'echo x > /dev/tcp/" +
             namespaces_->address(0) +
             "/4747' 2>/dev/null && echo net-open || echo net-closed\n"
             "touch /in/new 2>/dev/null && echo input-written || echo input-read-only\n"
             "cat /in/in.txt\n"
             "sleep 1234.5 &\n"
             "echo done\n\"\"\"]\n"
             "inputs = { \"/in\" = \"/synapse/data\" }\n");
  EXPECT_EQ(wait_done(0, "hog"), "failed");
  const auto hog = status_json(0, "hog");
  EXPECT_NE(hog.value("reason", "").find("out-of-memory"), std::string::npos) << hog.dump(2);
  EXPECT_EQ(wait_done(1, "sleepy"), "timed-out");
  EXPECT_NE(status_json(1, "sleepy").value("reason", "").find("timed out"), std::string::npos)
      << status_json(1, "sleepy").dump(2);
  ASSERT_EQ(wait_done(2, "probe"), "succeeded") << read_text(job_dir(2, "probe") / "stderr");
  const std::string out = read_text(job_dir(2, "probe") / "stdout");
  EXPECT_NE(out.find("65534\n"), std::string::npos) << out;
  EXPECT_NE(out.find("shadow-denied"), std::string::npos) << out;
  EXPECT_EQ(out.find("net-open"), std::string::npos) << out;
  EXPECT_NE(out.find("input-read-only"), std::string::npos) << out;
  EXPECT_NE(out.find("read me"), std::string::npos) << out;
  EXPECT_NE(out.find("done"), std::string::npos) << out;
  // Nothing of any of them is left running.
  EXPECT_TRUE(eventually([] { return processes_with("sleep 1234.5") == 0; }, 5s));
  EXPECT_EQ(processes_with("tail /dev/zero"), 0);
  EXPECT_EQ(processes_with("sleep 60"), 0);
}

TEST_F(Jobs, TheCommandLineSubmitsWaitsListsShowsLogsAndCancels) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.93.0"));
  const fsys::path spec = swarm_.dir().path() / "hello.toml";
  write_text(spec, "command = \"echo hello; echo oops >&2; exit 3\"\n");
  auto waited = swarm_.cli(1, {"job", "submit", spec.string(), "--wait"});
  EXPECT_EQ(waited.exit_code, 1) << waited.out << waited.err;
  EXPECT_EQ(waited.out, "hello\n");  // the job's name
  EXPECT_NE(waited.err.find("exited with 3"), std::string::npos) << waited.err;
  auto printed = swarm_.cli(2, {"job", "logs", "hello"});
  EXPECT_EQ(printed.out, "hello\n");
  auto errors = swarm_.cli(0, {"job", "logs", "hello", "--stderr"});
  EXPECT_EQ(errors.out, "oops\n");

  // A bad spec is refused with its errors, and still leaves a rejected job folder.
  write_text(spec, "command = [\"true\"]\n[resources]\nmemory = \"lots\"\nbogus = 1\n");
  auto rejected = swarm_.cli(0, {"job", "submit", spec.string()});
  EXPECT_EQ(rejected.exit_code, 1);
  EXPECT_NE(rejected.err.find("line 3: resources.memory"), std::string::npos) << rejected.err;
  EXPECT_NE(rejected.err.find("line 4: resources.bogus"), std::string::npos) << rejected.err;
  EXPECT_EQ(wait_done(0, "hello-2"), "rejected");
  EXPECT_NE(read_text(job_dir(0, "hello-2") / "stderr").find("resources.memory"),
            std::string::npos);

  // A long job followed with logs -f, then cancelled from another node.
  write_text(spec,
             "name = \"ticker\"\n"
             "command = \"for i in $(seq 1 30); do echo tick $i; sleep 1; done\"\n");
  auto submitted = swarm_.cli(0, {"job", "submit", spec.string()});
  ASSERT_EQ(submitted.exit_code, 0) << submitted.err;
  ASSERT_TRUE(eventually(
      [&] {
        return read_text(job_dir(1, "ticker") / "stdout").find("tick 2") != std::string::npos;
      },
      20s))
      << read_text(job_dir(1, "ticker") / "stdout");
  // tail -f on every node sees the ticks arrive (the worker copies stdout in every second).
  for (size_t i = 0; i < 3; ++i) {
    const auto tailed =
        synapse::testing::run_command({"/usr/bin/timeout", "4", "/usr/bin/tail", "-n", "+1", "-f",
                                       (job_dir(i, "ticker") / "stdout").string()},
                                      "", 10s);
    EXPECT_NE(tailed.out.find("tick 4"), std::string::npos) << "node " << i << ": " << tailed.out;
  }
  auto listed = swarm_.cli(2, {"jobs", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  const auto jobs = nlohmann::json::parse(listed.out)["jobs"];
  std::map<std::string, std::string> states;
  for (const auto& job : jobs) states[job["name"]] = job["state"];
  EXPECT_EQ(states["hello"], "failed");
  EXPECT_EQ(states["hello-2"], "rejected");
  EXPECT_EQ(states["ticker"], "running");
  auto table = swarm_.cli(2, {"jobs"});
  EXPECT_NE(table.out.find("ticker"), std::string::npos) << table.out;
  auto cancelled = swarm_.cli(2, {"job", "cancel", "ticker"});
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.err;
  EXPECT_EQ(wait_done(0, "ticker", 20s), "cancelled") << log_of(0);
  auto followed = swarm_.cli(1, {"job", "logs", "ticker", "-f"}, 30s);
  EXPECT_EQ(followed.exit_code, 0);
  EXPECT_NE(followed.out.find("tick 1\ntick 2\n"), std::string::npos) << followed.out;
  EXPECT_EQ(followed.out.find("tick 30"), std::string::npos) << followed.out;
}

TEST_F(Jobs, ArrayTasksEachGetTheirIdLogsAndOutputs) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.94.0"));
  submit(0, "squares",
         "command = [\"sh\", \"-c\", \"echo $((SYNAPSE_TASK_ID * SYNAPSE_TASK_ID)) > /out/square; "
         "echo task $SYNAPSE_TASK_ID\"]\n"
         "array = 6\n"
         "outputs = { \"/out\" = \"/synapse/results/squares\" }\n");
  ASSERT_EQ(wait_done(1, "squares"), "succeeded") << log_of(0);
  std::set<std::string> nodes;
  for (int t = 0; t < 6; ++t) {
    const fsys::path task = job_dir(2, "squares") / "tasks" / std::to_string(t);
    EXPECT_EQ(state_of(task), "succeeded") << t;
    EXPECT_EQ(read_text(task / "stdout"), "task " + std::to_string(t) + "\n");
    EXPECT_EQ(read_text(mount_dir(2) / "results" / "squares" / std::to_string(t) / "square"),
              std::to_string(t * t) + "\n");
    EXPECT_EQ(read_text(task / "outputs" / "out" / "square"), std::to_string(t * t) + "\n");
  }
  const auto status = status_json(0, "squares");
  for (const auto& task : status["tasks"]) nodes.insert(task["node"].get<std::string>());
  EXPECT_GE(nodes.size(), 2u) << "array tasks spread over the nodes";
}

TEST_F(Jobs, AnImageFromTheTreeIsUnpackedOnceAndRunsUnderBubblewrapAndRunc) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.97.0"));
  // A root filesystem of one static program, as a tarball in the shared tree.
  const fsys::path rootfs = swarm_.dir().path() / "rootfs";
  fsys::create_directories(rootfs / "bin");
  fsys::copy_file(IMAGE_HELLO, rootfs / "bin" / "hello");
  const fsys::path tar = swarm_.dir().path() / "hello.tar";
  ASSERT_EQ(
      synapse::testing::run_command({"/bin/tar", "-cf", tar.string(), "-C", rootfs.string(), "."})
          .exit_code,
      0);
  fsys::create_directories(mount_dir(0) / "images");
  fsys::copy_file(tar, mount_dir(0) / "images" / "hello.tar");
  std::this_thread::sleep_for(1100ms);
  const bool has_runc =
      synapse::testing::run_command({"/bin/sh", "-c", "command -v runc"}).exit_code == 0;
  std::vector<std::string> runtimes = {"bubblewrap"};
  if (has_runc) runtimes.push_back("oci");
  for (const std::string& runtime : runtimes) {
    const std::string name = "image-" + runtime;
    submit(1, name,
           "command = [\"/bin/hello\"]\nimage = \"/synapse/images/hello.tar\"\nruntime = \"" +
               runtime + "\"\n");
    ASSERT_EQ(wait_done(1, name), "succeeded") << status_json(1, name).dump(2);
    const std::string out = read_text(job_dir(1, name) / "stdout");
    EXPECT_NE(out.find("hello from the image as uid 65534"), std::string::npos) << out;
    EXPECT_NE(out.find("/etc/hostname is not here"), std::string::npos) << out;
    EXPECT_EQ(read_text(job_dir(1, name) / "outputs" / "made-in-image"), "ok\n");
  }
  // Unpacked once per node that ran it, named by the tarball's content ID.
  for (size_t i = 0; i < 3; ++i) {
    const fsys::path images = swarm_.dir().path() / ("jobs" + std::to_string(i)) / "images";
    size_t unpacked = 0;
    for (const auto& entry : fsys::directory_iterator(images)) {
      unpacked += entry.path().filename().string().rfind("bafy", 0) == 0;
    }
    EXPECT_LE(unpacked, 1u) << images;
  }
  if (!has_runc) GTEST_SKIP() << "runc is not installed: only bubblewrap ran the image";
}

TEST_F(Jobs, AJobWhoseWorkerDiesRunsAgainElsewhere) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.95.0"));
  submit(0, "patient",
         "command = [\"sh\", \"-c\", \"sleep 8; echo finished on $(hostname)\"]\n"
         "[placement]\nnodes = [\"" +
             id_of(1).substr(0, 8) + "\", \"" + id_of(2).substr(0, 8) + "\"]\n");
  ASSERT_TRUE(eventually([&] { return state_of(job_dir(0, "patient")) == "running"; }, 20s));
  const std::string first = node_of(0, "patient");
  const size_t victim = first == id_of(1) ? 1 : 2;
  ASSERT_EQ(first, id_of(victim));
  swarm_.kill(victim);
  EXPECT_EQ(wait_done(0, "patient", 90s), "succeeded") << log_of(0);
  const auto status = status_json(0, "patient");
  ASSERT_EQ(status["tasks"][0]["attempts"].size(), 2u) << status.dump(2);
  EXPECT_EQ(status["tasks"][0]["attempts"][0]["outcome"], "lost");
  EXPECT_EQ(status["node"], id_of(victim == 1 ? 2 : 1));
}

TEST_F(Jobs, AJobWhoseCoordinatorDiesIsTakenOverAndFinishes) {
  ASSERT_NO_FATAL_FAILURE(start_swarm(3, "10.96.0", "[jobs]\nenabled = true\n"));
  // Node 0 coordinates; the job runs on 1 or 2 and outlives node 0.
  submit(0, "orphan",
         "command = [\"sh\", \"-c\", \"sleep 25; echo survived > /out/note\"]\n"
         "outputs = { \"/out\" = \"/synapse/results/orphan\" }\n"
         "[placement]\nnodes = [\"" +
             id_of(1).substr(0, 8) + "\", \"" + id_of(2).substr(0, 8) + "\"]\n");
  ASSERT_TRUE(eventually([&] { return state_of(job_dir(1, "orphan")) == "running"; }, 20s));
  const std::string worker = node_of(1, "orphan");
  // The job folder's files (spec, record) reached the other nodes: what a job needs to be
  // taken over, as every closed file once its replicas are made (about a second).
  ASSERT_TRUE(eventually(
      [&] {
        auto status = swarm_.call(0, "status");
        return status && (*status)["replication"]["under_target"] == 0 &&
               (*status)["replication"]["unchecked"] == 0 &&
               (*status)["replication"]["fetching_replicas"] == 0;
      },
      20s));
  swarm_.kill(0);
  EXPECT_EQ(wait_done(1, "orphan", 120s), "succeeded") << log_of(1) << log_of(2);
  const auto status = status_json(1, "orphan");
  EXPECT_NE(status["coordinator"], id_of(0));
  EXPECT_EQ(status["epoch"], 2);
  EXPECT_EQ(status["tasks"][0]["attempts"].size(), 1u) << "the running attempt was adopted";
  EXPECT_EQ(status["node"], worker);
  EXPECT_TRUE(eventually(
      [&] { return read_text(mount_dir(2) / "results" / "orphan" / "note") == "survived\n"; },
      10s));
  EXPECT_NE(read_text(job_dir(2, "orphan") / "events.log").find("taken over"), std::string::npos);
}

}  // namespace
}  // namespace synapse::daemon
