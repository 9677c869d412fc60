// The jobs' files (job_files.h) on the shared file systems of a MemorySwarm and a local
// folder: the spool, job folders, committing outputs, a worker's attempt folders and logs.
#include "synapse/compute/job_files.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "fs/memory_swarm.h"
#include "synapse/compute/layout.h"
#include "test_util.h"

namespace synapse::compute {
namespace {

using fs::testing::MemorySwarm;

core::ByteView bytes_of(std::string_view text) { return core::as_bytes(text); }

class JobFilesTest : public ::testing::Test {
 protected:
  JobFilesTest() : swarm_(2, 11), tree_(swarm_.fs(0)), other_(swarm_.fs(1)) {
    JobFilesOptions options;
    options.state_dir = dir_.path() / "jobs";
    options.mount = dir_.path() / "mnt";
    options.job_uid = ::getuid();
    options.job_gid = ::getgid();
    options.appear_timeout = std::chrono::milliseconds(100);
    files_ = std::make_unique<JobFiles>(tree_, core::Env::posix(), options);
    EXPECT_TRUE(tree_.make_dirs("jobs"));
  }

  JobRecord record_template() {
    JobRecord record;
    record.instance = 9;
    record.user = "alice";
    record.submitted_ms = 1764800000000;
    return record;
  }

  std::string read(fs::Tree& tree, const std::string& path) {
    return tree.read(path, 1 << 20).value_or("<missing>");
  }

  synapse::testing::TempDir dir_;
  MemorySwarm swarm_;
  fs::Tree tree_;
  fs::Tree other_;
  std::unique_ptr<JobFiles> files_;
};

TEST_F(JobFilesTest, ASubmissionBecomesAJobFolderUnderAFreeName) {
  ASSERT_TRUE(tree_.make_dirs("data/in"));
  const std::string spec = "command = [\"true\"]\ninputs = { \"/in\" = \"/synapse/data/in\" }\n";
  ASSERT_TRUE(tree_.write("jobs/wc.toml", bytes_of(spec)));
  JobRecord record = record_template();
  Intake intake = files_->take_submission("jobs/wc.toml", record);
  ASSERT_EQ(intake.outcome, Intake::Outcome::kAccepted);
  EXPECT_EQ(intake.name, "wc");
  EXPECT_EQ(intake.spec_text, spec);
  EXPECT_EQ(read(tree_, "jobs/wc/spec.toml"), spec);
  EXPECT_TRUE(*tree_.exists("jobs/wc/ctl"));
  EXPECT_FALSE(*tree_.exists("jobs/wc.toml"));
  // Taken once: the same path again is nothing to take.
  EXPECT_EQ(files_->take_submission("jobs/wc.toml", record).outcome, Intake::Outcome::kNone);
  // A second "wc" gets the next free name.
  ASSERT_TRUE(tree_.write("jobs/wc.toml", bytes_of(spec)));
  EXPECT_EQ(files_->take_submission("jobs/wc.toml", record).name, "wc-2");
  auto names = files_->job_names();
  ASSERT_TRUE(names);
  EXPECT_EQ(*names, (std::vector<std::string>{"wc", "wc-2"}));
}

TEST_F(JobFilesTest, ABadSpecOrAMissingInputIsRejectedWithItsErrorsInTheFolder) {
  ASSERT_TRUE(tree_.write("jobs/bad.toml", bytes_of("command = [\"true\"]\n"
                                                    "inputs = { \"/in\" = \"/synapse/nowhere\" }\n"
                                                    "image = \"/synapse/images/none.tar\"\n")));
  JobRecord record = record_template();
  Intake intake = files_->take_submission("jobs/bad.toml", record);
  ASSERT_EQ(intake.outcome, Intake::Outcome::kRejected);
  ASSERT_EQ(intake.errors.size(), 2u);
  EXPECT_EQ(intake.errors[0].to_string(), "line 2: inputs./in: /synapse/nowhere does not exist");
  EXPECT_EQ(intake.errors[1].to_string(), "line 3: image: /synapse/images/none.tar does not exist");
  EXPECT_EQ(read(tree_, "jobs/bad/state"), "rejected\n");
  EXPECT_EQ(read(tree_, "jobs/bad/stderr"),
            "line 2: inputs./in: /synapse/nowhere does not exist\n"
            "line 3: image: /synapse/images/none.tar does not exist\n");
  auto status = files_->read_record("bad");
  ASSERT_TRUE(status) << status.error().message();
  EXPECT_EQ(status->state, TaskState::kRejected);
  EXPECT_NE(status->reason.find("does not exist"), std::string::npos);
  EXPECT_NE(read(tree_, "jobs/bad/events.log").find("rejected: invalid spec"), std::string::npos);
  // Syntax errors too, and a spec too large to be one.
  ASSERT_TRUE(tree_.write("jobs/junk.toml", bytes_of("command = [")));
  EXPECT_EQ(files_->take_submission("jobs/junk.toml", record).outcome, Intake::Outcome::kRejected);
  ASSERT_TRUE(tree_.write("jobs/huge.toml", bytes_of(std::string(kMaxSpecBytes + 1, '#'))));
  Intake huge = files_->take_submission("jobs/huge.toml", record);
  ASSERT_EQ(huge.outcome, Intake::Outcome::kRejected);
  EXPECT_NE(huge.errors.front().message.find("larger than"), std::string::npos);
}

TEST_F(JobFilesTest, RecordsWriteOnlyWhatChangedAndAppendEvents) {
  JobRecord record = record_template();
  record.name = "job";
  record.tasks.push_back(TaskRecord{0, TaskState::kQueued});
  ASSERT_TRUE(tree_.make_dirs("jobs/job"));
  ASSERT_TRUE(files_->write_record(record, {"t0 queued"}));
  EXPECT_EQ(read(tree_, "jobs/job/state"), "queued\n");
  const auto first = tree_.content("jobs/job/state").value();
  record.tasks[0].state = TaskState::kQueued;
  ASSERT_TRUE(files_->write_record(record, {"t1 still queued"}));
  EXPECT_EQ(tree_.content("jobs/job/state").value().content, first.content);
  record.tasks[0].state = TaskState::kSucceeded;
  record.tasks[0].exit_code = 0;
  record.state = TaskState::kSucceeded;
  ASSERT_TRUE(files_->write_record(record, {"t2 succeeded (exit 0)"}));
  EXPECT_EQ(read(tree_, "jobs/job/state"), "succeeded\n");
  EXPECT_EQ(read(tree_, "jobs/job/exit_code"), "0\n");
  EXPECT_EQ(read(tree_, "jobs/job/events.log"),
            "t0 queued\nt1 still queued\nt2 succeeded (exit 0)\n");
  // An array's tasks have their own state and exit code.
  JobRecord array = record;
  array.name = "arr";
  array.array = true;
  array.tasks.push_back(TaskRecord{1, TaskState::kFailed, {}, 3});
  array.state = job_state(array.tasks);
  ASSERT_TRUE(tree_.make_dirs("jobs/arr"));
  ASSERT_TRUE(files_->write_record(array, {}));
  EXPECT_EQ(read(tree_, "jobs/arr/tasks/0/state"), "succeeded\n");
  EXPECT_EQ(read(tree_, "jobs/arr/tasks/1/exit_code"), "3\n");
  EXPECT_EQ(read(tree_, "jobs/arr/state"), "failed\n");
}

TEST_F(JobFilesTest, CommittedOutputsReplaceTheDestinationWholeAndAreLinked) {
  const JobSpec spec =
      parse_spec("command = [\"true\"]\noutputs = { \"/out\" = \"/synapse/results/wc\" }\n", "wc")
          .value();
  JobRecord record = record_template();
  record.name = "wc";
  ASSERT_TRUE(tree_.make_dirs("jobs/wc/.staging/0.1/0"));
  ASSERT_TRUE(tree_.write("jobs/wc/.staging/0.1/0/count", bytes_of("42\n")));
  ASSERT_TRUE(tree_.make_dirs("results/wc"));
  ASSERT_TRUE(tree_.write("results/wc/old", bytes_of("stale")));
  ASSERT_TRUE(files_->commit_outputs(record, spec, 0, "jobs/wc/.staging/0.1"));
  EXPECT_EQ(read(tree_, "results/wc/count"), "42\n");
  EXPECT_FALSE(*tree_.exists("results/wc/old"));
  EXPECT_FALSE(*tree_.exists("jobs/wc/.staging/0.1"));
  EXPECT_EQ(tree_.readlink("jobs/wc/outputs/out").value_or("?"), "../../../results/wc");
  // Seen the same way on another node.
  swarm_.settle();
  EXPECT_EQ(read(other_, "results/wc/count"), "42\n");
  // The default /out goes to the task folder's outputs/ itself; array tasks get their own.
  const JobSpec plain = parse_spec("command = [\"true\"]\narray = 2\n", "arr").value();
  EXPECT_EQ(output_places(plain, "arr", 1, true).front().destination, "jobs/arr/tasks/1/outputs");
  EXPECT_EQ(output_places(spec, "wc", 3, true).front().destination, "results/wc/3");
}

TEST_F(JobFilesTest, AnAttemptGetsItsFoldersBindsAndEnvironmentAndShipsItsLogs) {
  ASSERT_TRUE(tree_.make_dirs("data"));
  const JobSpec spec = parse_spec(
                           "command = [\"cat\"]\narray = 3\nenv = { LANG = \"C\" }\n"
                           "inputs = { \"/in\" = \"/synapse/data\" }\n",
                           "cat")
                           .value();
  const AttemptRef attempt{TaskKey{"cat", 0xabcdef0123456789ULL, 2}, 1};
  EXPECT_EQ(sandbox_name(attempt), "cat-abcdef01.2.1");
  auto sandbox = files_->prepare(attempt, spec, true);
  ASSERT_TRUE(sandbox) << sandbox.error().message();
  EXPECT_EQ(sandbox->name, "cat-abcdef01.2.1");
  ASSERT_EQ(sandbox->binds.size(), 2u);
  EXPECT_EQ(sandbox->binds[0].source, dir_.path() / "mnt" / "data");
  EXPECT_EQ(sandbox->binds[0].target, "/in");
  EXPECT_FALSE(sandbox->binds[0].writable);
  EXPECT_EQ(sandbox->binds[1].target, "/out");
  EXPECT_TRUE(sandbox->binds[1].writable);
  EXPECT_TRUE(std::filesystem::is_directory(sandbox->binds[1].source));
  std::map<std::string, std::string> env(sandbox->env.begin(), sandbox->env.end());
  EXPECT_EQ(env["LANG"], "C");
  EXPECT_EQ(env["SYNAPSE_TASK_ID"], "2");
  EXPECT_EQ(env["SYNAPSE_JOB"], "cat");
  EXPECT_FALSE(env["PATH"].empty());

  // The logs arrive in the task folder as they grow.
  std::ofstream(sandbox->stdout_path) << "first\n";
  ASSERT_TRUE(files_->ship_logs(attempt, true));
  EXPECT_EQ(read(tree_, "jobs/cat/tasks/2/stdout"), "first\n");
  EXPECT_EQ(read(tree_, "jobs/cat/tasks/2/stderr"), "");
  std::ofstream(sandbox->stdout_path, std::ios::app) << "second\n";
  std::ofstream(sandbox->binds[1].source / "result") << "r";
  std::filesystem::create_directories(sandbox->binds[1].source / "sub");
  std::ofstream(sandbox->binds[1].source / "sub" / "deep") << "d";
  auto staged = files_->finish(attempt, spec, true, true);
  ASSERT_TRUE(staged) << staged.error().message();
  EXPECT_EQ(*staged, "jobs/cat/.staging/2.1");
  EXPECT_EQ(read(tree_, "jobs/cat/tasks/2/stdout"), "first\nsecond\n");
  EXPECT_EQ(read(tree_, "jobs/cat/.staging/2.1/0/result"), "r");
  EXPECT_EQ(read(tree_, "jobs/cat/.staging/2.1/0/sub/deep"), "d");
  files_->cleanup(attempt);
  EXPECT_FALSE(std::filesystem::exists(sandbox->scratch));

  // A new attempt's first ship replaces what the earlier one left.
  const AttemptRef retry{attempt.key, 2};
  auto again = files_->prepare(retry, spec, true);
  ASSERT_TRUE(again);
  std::ofstream(again->stdout_path) << "retry\n";
  ASSERT_TRUE(files_->finish(retry, spec, true, false));
  EXPECT_EQ(read(tree_, "jobs/cat/tasks/2/stdout"), "retry\n");
  // Nothing written to the default /out: nothing staged.
  EXPECT_EQ(files_->finish(retry, spec, true, true).value_or("?"), "");
}

TEST_F(JobFilesTest, CtlAsksForACancel) {
  ASSERT_TRUE(tree_.make_dirs("jobs/long"));
  ASSERT_TRUE(tree_.write("jobs/long/ctl", {}));
  EXPECT_FALSE(*files_->cancel_asked("long"));
  ASSERT_TRUE(files_->ask_cancel("long"));
  EXPECT_TRUE(*files_->cancel_asked("long"));
  EXPECT_EQ(files_->ask_cancel("nothing").error().code(), core::ErrorCode::kNotFound);
}

}  // namespace
}  // namespace synapse::compute
