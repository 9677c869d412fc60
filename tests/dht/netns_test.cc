// Two nodes in two network namespaces joined by a veth pair: messages, a 100 MiB stream, a
// packet capture that must hold no plaintext, and a member's log when a wrong key knocks.
// Needs root and `ip netns`; skipped otherwise. Every process and namespace is removed at the
// end, also when an assertion fails.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "child_process.h"
#include "synapse/core/bytes.h"
#include "synapse/core/rng.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace core = synapse::core;
using synapse::testing::Child;
using synapse::testing::run_quiet;

// Two namespaces with a veth pair: 10.77.0.1 in `a`, 10.77.0.2 in `b`. The addresses exist
// only inside these namespaces. Removed on destruction (which also removes the veth pair).
class NamespacePair {
 public:
  NamespacePair() {
    const std::string id = std::to_string(::getpid());
    a_ = "synapse-wire-a-" + id;
    b_ = "synapse-wire-b-" + id;
    veth_a_ = "swa" + id;
    veth_b_ = "swb" + id;
    ok_ = run_quiet("ip netns add " + a_) == 0 && run_quiet("ip netns add " + b_) == 0 &&
          run_quiet("ip link add " + veth_a_ + " type veth peer name " + veth_b_) == 0 &&
          run_quiet("ip link set " + veth_a_ + " netns " + a_) == 0 &&
          run_quiet("ip link set " + veth_b_ + " netns " + b_) == 0 &&
          run_quiet("ip -n " + a_ + " addr add 10.77.0.1/24 dev " + veth_a_) == 0 &&
          run_quiet("ip -n " + b_ + " addr add 10.77.0.2/24 dev " + veth_b_) == 0 &&
          run_quiet("ip -n " + a_ + " link set " + veth_a_ + " up") == 0 &&
          run_quiet("ip -n " + b_ + " link set " + veth_b_ + " up") == 0 &&
          run_quiet("ip -n " + a_ + " link set lo up") == 0 &&
          run_quiet("ip -n " + b_ + " link set lo up") == 0;
  }
  ~NamespacePair() {
    run_quiet("ip link del " + veth_a_);
    run_quiet("ip netns del " + a_);
    run_quiet("ip netns del " + b_);
  }
  bool ok() const { return ok_; }
  std::vector<std::string> in_a(std::vector<std::string> argv) const { return in(a_, argv); }
  std::vector<std::string> in_b(std::vector<std::string> argv) const { return in(b_, argv); }
  const std::string& veth_b() const { return veth_b_; }

 private:
  static std::vector<std::string> in(const std::string& ns, std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"ip", "netns", "exec", ns});
    return argv;
  }
  std::string a_, b_, veth_a_, veth_b_;
  bool ok_ = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string random_marker(const std::string& prefix) {
  core::SeededRng rng(static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^ ::getpid());
  core::Bytes bytes(8);
  rng.fill(bytes);
  return prefix + core::to_hex(bytes);
}

class NetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root for network namespaces";
    if (run_quiet("ip netns list") != 0) GTEST_SKIP() << "`ip netns` is not available";
    namespaces_ = std::make_unique<NamespacePair>();
    if (!namespaces_->ok()) GTEST_SKIP() << "could not create namespaces and a veth pair";
  }
  void TearDown() override {
    server_.reset();
    namespaces_.reset();
  }

  void start_server() {
    server_ = std::make_unique<Child>(namespaces_->in_b(
        {SYNAPSE_WIRE_PEER, "serve", "--bind", "10.77.0.2:7000", "--key-byte", "0"}));
    ASSERT_TRUE(server_->wait_for("listening 10.77.0.2:7000", 10s)) << server_->output();
  }

  std::unique_ptr<NamespacePair> namespaces_;
  std::unique_ptr<Child> server_;
};

TEST_F(NetnsTest, MembersExchangeMessagesAndAHundredMebibyteStreamAcrossAVethPair) {
  start_server();
  Child messages(namespaces_->in_a({SYNAPSE_WIRE_PEER, "send-message", "--to", "10.77.0.2:7000",
                                    "--key-byte", "0", "--count", "100"}));
  EXPECT_EQ(messages.wait_exit(30s), 0) << messages.output();
  EXPECT_NE(messages.output().find("echoed 100"), std::string::npos) << messages.output();

  Child stream(namespaces_->in_a({SYNAPSE_WIRE_PEER, "send-stream", "--to", "10.77.0.2:7000",
                                  "--key-byte", "0", "--bytes", std::to_string(100 << 20)}));
  ASSERT_EQ(stream.wait_exit(120s), 0) << stream.output();
  // "sent BYTES SHA" from the sender must match "stream BYTES SHA PEER" from the server.
  const std::string& sent = stream.output();
  const size_t at = sent.find("sent ");
  ASSERT_NE(at, std::string::npos) << sent;
  std::istringstream fields(sent.substr(at + 5));
  std::string bytes, digest;
  fields >> bytes >> digest;
  EXPECT_EQ(bytes, std::to_string(100 << 20));
  EXPECT_TRUE(server_->wait_for("stream " + bytes + " " + digest, 10s)) << server_->output();
}

TEST_F(NetnsTest, ACaptureOfTheTransferHoldsNoPlaintext) {
  if (run_quiet("command -v tcpdump") != 0) {
    GTEST_SKIP() << "tcpdump is not installed (scripts/install-deps.sh installs it)";
  }
  synapse::testing::TempDir dir;
  const std::string pcap = (dir / "transfer.pcap").string();
  const std::string marker = random_marker("SYNAPSE-PLAINTEXT-MARKER-");
  const std::string control = random_marker("SYNAPSE-CONTROL-MARKER-");
  start_server();
  Child capture(namespaces_->in_b(
      {"tcpdump", "-i", namespaces_->veth_b(), "-n", "-U", "-s", "0", "-B", "32768", "-w", pcap}));
  ASSERT_TRUE(capture.wait_for("listening on", 10s)) << capture.output();

  Child messages(namespaces_->in_a({SYNAPSE_WIRE_PEER, "send-message", "--to", "10.77.0.2:7000",
                                    "--key-byte", "0", "--count", "20", "--marker", marker}));
  EXPECT_EQ(messages.wait_exit(30s), 0) << messages.output();
  Child stream(
      namespaces_->in_a({SYNAPSE_WIRE_PEER, "send-stream", "--to", "10.77.0.2:7000", "--key-byte",
                         "0", "--bytes", std::to_string(4 << 20), "--marker", marker}));
  EXPECT_EQ(stream.wait_exit(60s), 0) << stream.output();
  EXPECT_TRUE(server_->wait_for("stream " + std::to_string(4 << 20), 10s)) << server_->output();
  // Positive control: an unencrypted datagram is visible in the same capture.
  Child plain(namespaces_->in_a(
      {SYNAPSE_WIRE_PEER, "plain-udp", "--to", "10.77.0.2:7001", "--marker", control}));
  EXPECT_EQ(plain.wait_exit(10s), 0) << plain.output();

  // Wait until the control datagram, sent last, is in the file: everything before it is then
  // written too. Then stop the capture.
  const auto deadline = Clock::now() + 10s;
  while (read_file(pcap).find(control) == std::string::npos && Clock::now() < deadline) {
    capture.wait_for("\n\n", 50ms);  // waits on tcpdump's output as a bounded pause
  }
  capture.stop(SIGINT);
  EXPECT_NE(capture.output().find("\n0 packets dropped by kernel"), std::string::npos)
      << capture.output();
  const std::string captured = read_file(pcap);
  EXPECT_GT(captured.size(), size_t{4} << 20) << "the capture holds the transfer";
  EXPECT_NE(captured.find(control), std::string::npos) << "the capture works";
  EXPECT_EQ(captured.find(marker), std::string::npos) << "plaintext on the wire";
  EXPECT_EQ(captured.find("SYNAPSE-PLAINTEXT-MARKER"), std::string::npos);
}

TEST_F(NetnsTest, AWrongKeyFailsAndTheMemberLogsOneClearLine) {
  start_server();
  Child outsider(namespaces_->in_a({SYNAPSE_WIRE_PEER, "send-message", "--to", "10.77.0.2:7000",
                                    "--key-byte", "1", "--count", "3"}));
  EXPECT_EQ(outsider.wait_exit(30s), 1) << outsider.output();
  EXPECT_NE(outsider.output().find("timed out"), std::string::npos) << outsider.output();
  EXPECT_EQ(outsider.output().find("handshake with 10.77.0.2:7000 failed: wrong"),
            std::string::npos);
  ASSERT_TRUE(server_->wait_for("wrong swarm key", 5s)) << server_->output();
  server_->stop(SIGTERM);
  const std::string& log = server_->output();
  const std::string line = "handshake from 10.77.0.1:";
  size_t lines = 0;
  for (size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) ++lines;
  EXPECT_EQ(lines, 1u) << log;
  EXPECT_NE(log.find("failed: wrong swarm key (message 1 did not authenticate)"), std::string::npos)
      << log;
}

}  // namespace
