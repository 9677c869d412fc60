// The jobs' codecs: coordinator/worker messages, resource adverts and status.json.
#include <gtest/gtest.h>

#include "synapse/compute/advert.h"
#include "synapse/compute/job.h"
#include "synapse/compute/messages.h"

namespace synapse::compute {
namespace {

crypto::NodeId node(uint8_t n) {
  std::array<uint8_t, 32> bytes{};
  bytes.fill(n);
  return crypto::NodeId(bytes);
}

TaskKey key(const std::string& job = "wc", uint32_t task = 0) {
  return TaskKey{job, 0x0123456789abcdefULL, task};
}

std::vector<Message> every_message() {
  Finished finished{AttemptRef{key(), 2}, TaskState::kTimedOut,       -1,
                    "timed out after 2s", Usage{1.5, 64 << 20, 2.25}, 1700000000000,
                    1700000002000,        "jobs/wc/.staging/0.2",     true};
  return {
      Offer{key("x", 3), 1, 7, true, "alice", "command = [\"true\"]\n"},
      OfferReply{true, "", Load{1.5, 1 << 30, 1, 2, 3}},
      OfferReply{false, "busy", Load{}},
      Heartbeat{3,
                {TaskReport{key(), 1, TaskState::kRunning, 1700000000000, Usage{0.25, 1, 2}}},
                Load{0, 0, 0, 1, 0}},
      Heartbeat{},
      HeartbeatReply{{AttemptRef{key("a", 1), 2}, AttemptRef{key("b"), 1}}},
      Cancel{AttemptRef{key(), 1}, "cancelled by alice"},
      Ack{},
      finished,
      Probe{2, {key("a"), key("b", 5)}},
      ProbeReply{{TaskReport{key(), 1, TaskState::kAssigned, 0, Usage{}}}, {finished}},
      CancelJob{"wc", 42, "cancelled through its ctl file"},
  };
}

TEST(ComputeMessages, EveryMessageRoundTripsThroughItsEncoding) {
  std::set<size_t> types;
  for (const Message& message : every_message()) {
    types.insert(message.index());
    const core::Bytes bytes = encode_message(message);
    auto decoded = decode_message(bytes);
    ASSERT_TRUE(decoded) << message.index() << ": " << decoded.error().message();
    EXPECT_EQ(decoded->index(), message.index());
    EXPECT_EQ(encode_message(*decoded), bytes) << "type " << message.index();
  }
  EXPECT_EQ(types.size(), std::variant_size_v<Message>);
}

TEST(ComputeMessages, FieldsSurviveTheRoundTrip) {
  auto decoded = decode_message(encode_message(every_message()[8]));
  ASSERT_TRUE(decoded);
  const Finished& f = std::get<Finished>(*decoded);
  EXPECT_EQ(f.attempt, (AttemptRef{key(), 2}));
  EXPECT_EQ(f.outcome, TaskState::kTimedOut);
  EXPECT_EQ(f.exit_code, -1);
  EXPECT_EQ(f.reason, "timed out after 2s");
  EXPECT_DOUBLE_EQ(f.usage.cpu_seconds, 1.5);
  EXPECT_EQ(f.usage.max_memory_bytes, uint64_t{64} << 20);
  EXPECT_EQ(f.started_ms, 1700000000000);
  EXPECT_EQ(f.staged, "jobs/wc/.staging/0.2");
  EXPECT_TRUE(f.retry);
  auto offer = decode_message(encode_message(every_message()[0]));
  ASSERT_TRUE(offer);
  EXPECT_EQ(std::get<Offer>(*offer).key, key("x", 3));
  EXPECT_EQ(std::get<Offer>(*offer).user, "alice");
  EXPECT_TRUE(std::get<Offer>(*offer).array);
}

TEST(ComputeMessages, LongStringsAreCutToTheirLimit) {
  Cancel cancel{AttemptRef{key(), 1}, std::string(5000, 'r')};
  auto decoded = decode_message(encode_message(cancel));
  ASSERT_TRUE(decoded);
  EXPECT_EQ(std::get<Cancel>(*decoded).reason.size(), kMaxTextSize);
}

TEST(ComputeMessages, DecodingRejectsMalformedInput) {
  const core::Bytes good = encode_message(every_message()[6]);
  EXPECT_FALSE(decode_message({}));
  EXPECT_FALSE(decode_message(core::ByteView(good).first(good.size() - 1)));
  core::Bytes trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(decode_message(trailing));
  core::Bytes version = good;
  version[1] = 9;  // [1, 5, ...]: the version byte follows the array header
  EXPECT_FALSE(decode_message(version));
  core::Bytes type = good;
  type[2] = 99;
  EXPECT_FALSE(decode_message(type));
  EXPECT_FALSE(decode_message(core::Bytes(kMaxMessageSize + 1, 0x90)));
  // A job name that is not one (path separators, empty).
  Cancel bad{AttemptRef{key("../x"), 1}, ""};
  EXPECT_FALSE(decode_message(encode_message(bad)));
}

TEST(Adverts, RoundTripAndFitInADhtValue) {
  NodeAdvert advert;
  advert.name = "lab-pc-3";
  advert.cpus = 16;
  advert.memory = uint64_t{64} << 30;
  advert.disk_free = uint64_t{900} << 30;
  advert.gpus = {GpuInfo{0, "NVIDIA H200", uint64_t{141} << 30}};
  advert.runtimes = {RuntimeKind::kBubblewrap, RuntimeKind::kOci};
  advert.labels = {"ssd", "gpu"};
  advert.load = Load{12.5, uint64_t{40} << 30, 1, 3, 2};
  advert.load1 = 3.25;
  advert.mounted = true;
  advert.allow = {"role:gpu"};
  advert.queue_depth = 32;
  advert.wall_ms = 1764800000000;
  const core::Bytes bytes = encode_advert(advert);
  EXPECT_LE(bytes.size(), kMaxAdvertSize);
  auto decoded = decode_advert(bytes);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(*decoded, advert);
  const std::string text = advert_text(advert);
  EXPECT_NE(text.find("cpus 16\n"), std::string::npos) << text;
  EXPECT_NE(text.find("gpus 1 (NVIDIA H200)\n"), std::string::npos) << text;
  EXPECT_NE(text.find("runtimes bubblewrap oci\n"), std::string::npos) << text;
}

TEST(Adverts, OversizedAdvertsAreCutToFitLeastImportantFirst) {
  NodeAdvert advert;
  advert.name = std::string(100, 'n');
  advert.cpus = 2;
  for (int i = 0; i < 40; ++i)
    advert.labels.push_back("label-" + std::to_string(i) + std::string(20, 'x'));
  for (int i = 0; i < 40; ++i) advert.allow.push_back("name:" + std::string(40, 'a' + i % 26));
  for (uint32_t i = 0; i < 8; ++i) advert.gpus.push_back(GpuInfo{i, "NVIDIA H200 NVL", 1});
  const core::Bytes bytes = encode_advert(advert);
  EXPECT_LE(bytes.size(), kMaxAdvertSize);
  auto decoded = decode_advert(bytes);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->cpus, 2u);
  EXPECT_EQ(decoded->gpus.size(), 8u);  // resources are kept; lists of names go first
  EXPECT_LT(decoded->allow.size(), advert.allow.size());
}

TEST(Adverts, DecodingRejectsGarbageAndEveryShardHasItsOwnKey) {
  EXPECT_FALSE(decode_advert({}));
  EXPECT_FALSE(decode_advert(core::Bytes(10, 0xc1)));
  EXPECT_FALSE(decode_advert(core::Bytes(kMaxAdvertSize + 1, 0x90)));
  std::set<crypto::NodeId> keys;
  for (size_t shard = 0; shard < kAdvertShards; ++shard) keys.insert(advert_key(shard));
  EXPECT_EQ(keys.size(), kAdvertShards);
  EXPECT_EQ(advert_shard_of(node(9)), 9 % kAdvertShards);
}

JobRecord sample_record() {
  JobRecord job;
  job.name = "squares";
  job.instance = 77;
  job.user = "bob";
  job.submitter = node(1);
  job.coordinator = node(2);
  job.epoch = 3;
  job.retries = 2;
  job.array = true;
  job.submitted_ms = 1764800000000;
  job.started_ms = 1764800000100;
  job.cancel_requested = true;
  job.reason = "cancelled by bob";
  for (uint32_t t = 0; t < 3; ++t) {
    TaskRecord task;
    task.index = t;
    task.state = t == 0 ? TaskState::kSucceeded : TaskState::kCancelled;
    task.exit_code = t == 0 ? std::optional<int>(0) : std::nullopt;
    task.reason = t == 0 ? "" : "cancelled by bob";
    task.committed = t == 0;
    task.usage = Usage{0.5, 1 << 20, 1.25};
    task.attempts.push_back(
        Attempt{1, node(3), 1764800000050, 1764800000100, 1764800001100, "lost", "node gone"});
    task.attempts.push_back(Attempt{2, node(4), 1764800002000, 1764800002100, 0, "", ""});
    job.tasks.push_back(task);
  }
  job.state = job_state(job.tasks);
  return job;
}

TEST(JobRecords, StatusJsonRoundTrips) {
  const JobRecord job = sample_record();
  const std::string text = job_to_json(job);
  auto decoded = job_from_json(text);
  ASSERT_TRUE(decoded) << decoded.error().message();
  EXPECT_EQ(job_to_json(*decoded), text);
  EXPECT_EQ(decoded->tasks[1].attempts[0].node, node(3));
  EXPECT_EQ(decoded->state, TaskState::kCancelled);
  EXPECT_NE(text.find("\"submitted_at\": \"2025-12-03T22:13:20.000Z\""), std::string::npos) << text;
}

TEST(JobRecords, JobStateFollowsItsTasks) {
  auto tasks = [](std::vector<TaskState> states) {
    std::vector<TaskRecord> out;
    for (TaskState state : states) out.push_back(TaskRecord{0, state});
    return out;
  };
  using S = TaskState;
  EXPECT_EQ(job_state(tasks({S::kQueued, S::kQueued})), S::kQueued);
  EXPECT_EQ(job_state(tasks({S::kQueued, S::kAssigned})), S::kAssigned);
  EXPECT_EQ(job_state(tasks({S::kSucceeded, S::kRunning, S::kQueued})), S::kRunning);
  EXPECT_EQ(job_state(tasks({S::kSucceeded, S::kQueued})), S::kQueued);
  EXPECT_EQ(job_state(tasks({S::kSucceeded, S::kSucceeded})), S::kSucceeded);
  EXPECT_EQ(job_state(tasks({S::kCancelled, S::kTimedOut, S::kSucceeded})), S::kTimedOut);
  EXPECT_EQ(job_state(tasks({S::kCancelled, S::kFailed})), S::kFailed);
  EXPECT_EQ(job_state({}), S::kRejected);
  for (S state : {S::kQueued, S::kAssigned, S::kRunning, S::kSucceeded, S::kFailed, S::kCancelled,
                  S::kTimedOut, S::kRejected}) {
    EXPECT_EQ(parse_state(state_name(state)), state);
  }
  EXPECT_FALSE(parse_state("done"));
}

TEST(JobRecords, MalformedStatusJsonIsRefused) {
  EXPECT_FALSE(job_from_json(""));
  EXPECT_FALSE(job_from_json("[]"));
  EXPECT_FALSE(job_from_json("{\"name\": \"x\"}"));
  std::string text = job_to_json(sample_record());
  std::string bad_state = text;
  bad_state.replace(bad_state.find("\"cancelled\""), 11, "\"done\"");
  EXPECT_FALSE(job_from_json(bad_state));
  std::string bad_node = text;
  bad_node.replace(bad_node.find(node(2).to_hex()), 64, "zz");
  EXPECT_FALSE(job_from_json(bad_node));
  std::string bad_name = text;
  bad_name.replace(bad_name.find("\"squares\""), 9, "\"../etc\"");
  EXPECT_FALSE(job_from_json(bad_name));
}

}  // namespace
}  // namespace synapse::compute
