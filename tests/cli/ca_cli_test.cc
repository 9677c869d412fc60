// End-to-end tests of `synapse ca` and `synapse cert`: what an administrator types and sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "run_command.h"
#include "synapse/crypto/certificate.h"
#include "test_util.h"

namespace synapse {
namespace {

using testing::CommandResult;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::TempDir;

class CaCli : public ::testing::Test {
 protected:
  // Runs synapse with the node home `home` (a folder under the test's temp dir).
  CommandResult synapse(std::vector<std::string> args, const std::string& home = "node") {
    args.insert(args.begin(), {SYNAPSE_BINARY, "--home", (dir_ / home).string()});
    return testing::run_command(args);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  std::string read(const std::string& name) const {
    std::ifstream in(dir_ / name, std::ios::binary);
    std::stringstream out;
    out << in.rdbuf();
    return out.str();
  }

  void write(const std::string& name, const std::string& content) const {
    std::ofstream(dir_ / name, std::ios::binary) << content;
  }

  static std::string line(const CommandResult& r) {
    return r.out.empty() ? r.out : r.out.substr(0, r.out.find('\n'));
  }

  // Exactly one line on stderr starting with "synapse: ", and exit code 1.
  static void expect_user_error(const CommandResult& r, const std::string& fragment) {
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_EQ(r.err.rfind("synapse: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_THAT(r.err, HasSubstr(fragment));
  }

  // `synapse init` for a node home; returns its node ID.
  std::string init_node(const std::string& home = "node") {
    CommandResult r = synapse({"init"}, home);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return line(r);
  }

  // `synapse ca init` in <dir>/ca; returns the printed public key.
  std::string init_ca(const std::string& name = "ca") {
    CommandResult r = synapse({"ca", "init", "--ca-dir", path(name)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return line(r);
  }

  CommandResult sign(const std::string& node, const std::string& name, const std::string& output,
                     const std::string& ca = "ca") {
    return synapse({"ca", "sign", node, "--name", name, "--roles", "gpu,admin", "--days", "30",
                    "--ca-dir", path(ca), "-o", path(output)});
  }

  void set_config(const std::string& swarm_table, const std::string& home = "node") {
    write(home + "/config.toml", "[swarm]\n" + swarm_table);
  }

  TempDir dir_;
};

TEST_F(CaCli, CaInitWritesAPrivateKeyAndPrintsThePublicKey) {
  std::string key = init_ca();
  EXPECT_THAT(key, StartsWith("ed25519:"));
  EXPECT_EQ(key.size(), 8u + 64u);
  EXPECT_EQ(read("ca/ca.pub"), key + "\n");
  struct stat st {};
  ASSERT_EQ(::stat(path("ca/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_THAT(read("ca/ca.key"), StartsWith("-----BEGIN PRIVATE KEY-----"));

  std::string key_file = read("ca/ca.key");
  expect_user_error(synapse({"ca", "init", "--ca-dir", path("ca")}), "already exists");
  EXPECT_EQ(read("ca/ca.key"), key_file);
}

TEST_F(CaCli, IdPrintsThePublicKeyForSigning) {
  std::string id = init_node();
  CommandResult key = synapse({"id", "--public-key"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  EXPECT_THAT(key.out, StartsWith("ed25519:"));
  EXPECT_EQ(key.out.size(), 8u + 64u + 1u);
  auto public_key = crypto::parse_public_key(line(key)).value();
  EXPECT_EQ(crypto::NodeId::of_public_key(public_key).to_hex(), id);
}

TEST_F(CaCli, ASignedCertificateInstallsAndShows) {
  std::string id = init_node();
  std::string ca_key = init_ca();
  std::string public_key = line(synapse({"id", "--public-key"}));

  CommandResult signed_by_key = sign(public_key, "alice", "alice.cert");
  ASSERT_EQ(signed_by_key.exit_code, 0) << signed_by_key.err;
  EXPECT_THAT(signed_by_key.out, HasSubstr("alice (node " + id.substr(0, 8) + ")"));
  EXPECT_THAT(signed_by_key.out, HasSubstr("roles admin,gpu"));
  EXPECT_THAT(read("alice.cert"), StartsWith("-----BEGIN SYNAPSE CERTIFICATE-----\n"));
  // The same node by ID gives a certificate for the same node.
  ASSERT_EQ(sign(id, "alice", "by-id.cert").exit_code, 0);
  auto by_id = crypto::Certificate::from_armored(read("by-id.cert")).value();
  EXPECT_EQ(by_id.node_id.to_hex(), id);
  EXPECT_EQ(by_id.roles, (std::vector<std::string>{"admin", "gpu"}));
  EXPECT_EQ(by_id.not_after - by_id.not_before, 30 * 86400 + 3600);

  set_config("ca = \"" + ca_key + "\"\nrequire_certificate = true\n");
  CommandResult install = synapse({"cert", "install", path("alice.cert")});
  ASSERT_EQ(install.exit_code, 0) << install.err;
  EXPECT_THAT(install.out, HasSubstr("installed "));
  EXPECT_EQ(read("node/certificate.pem"), read("alice.cert"));

  CommandResult show = synapse({"cert", "show"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("name        alice\n"));
  EXPECT_THAT(show.out, HasSubstr("roles       admin, gpu\n"));
  EXPECT_THAT(show.out, HasSubstr("status      valid (checked against swarm.ca)"));

  CommandResult json = synapse({"cert", "show", "--json", path("alice.cert")});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  auto parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["kind"], "certificate");
  EXPECT_EQ(parsed["node_id"], id);
  EXPECT_EQ(parsed["name"], "alice");
  EXPECT_EQ(parsed["roles"], nlohmann::json::array({"admin", "gpu"}));
  EXPECT_EQ(parsed["issuer"], ca_key);
  EXPECT_EQ(parsed["valid"], true);
  EXPECT_TRUE(parsed["problem"].is_null());
}

TEST_F(CaCli, SignWritesNameDotCertByDefaultAndNeverOverwrites) {
  std::string id = init_node();
  init_ca();
  CommandResult first =
      synapse({"ca", "sign", id, "--name", "bob", "--ca-dir", path("ca"), "-o", path("bob.cert")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  std::string before = read("bob.cert");
  expect_user_error(
      synapse({"ca", "sign", id, "--name", "bob", "--ca-dir", path("ca"), "-o", path("bob.cert")}),
      "already exists");
  EXPECT_EQ(read("bob.cert"), before);
  EXPECT_EQ(synapse({"ca", "sign", id, "--name", "bob", "--ca-dir", path("ca"), "-o",
                     path("bob.cert"), "--force"})
                .exit_code,
            0);
  EXPECT_NE(read("bob.cert"), before);  // a new serial

  // Without -o the file is <name>.cert in the working folder (here: the test's temp folder).
  std::filesystem::path cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  CommandResult plain = synapse({"ca", "sign", id, "--name", "carol", "--ca-dir", path("ca")});
  CommandResult odd = synapse({"ca", "sign", id, "--name", "Carol's box", "--ca-dir", path("ca")});
  std::filesystem::current_path(cwd);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, StartsWith("wrote carol.cert: carol"));
  EXPECT_TRUE(std::filesystem::exists(dir_ / "carol.cert"));
  ASSERT_EQ(odd.exit_code, 0) << odd.err;  // not a plain file name: the short node ID
  EXPECT_THAT(odd.out, StartsWith("wrote " + id.substr(0, 8) + ".cert: Carol's box"));
}

TEST_F(CaCli, BadSigningRequestsGetOneErrorLine) {
  std::string id = init_node();
  expect_user_error(synapse({"ca", "sign", id, "--name", "a", "--ca-dir", path("none")}),
                    "synapse ca init");
  init_ca();
  auto sign_with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"ca", "sign", id, "--ca-dir", path("ca"), "-o", path("x")};
    args.insert(args.end(), extra.begin(), extra.end());
    return synapse(args);
  };
  expect_user_error(sign_with({"--name", "a", "--roles", "Admin"}), "role name 'Admin'");
  expect_user_error(sign_with({"--name", "a", "--days", "0"}), "--days must be 1 to 36500");
  expect_user_error(sign_with({"--name", ""}), "name is empty");
  expect_user_error(
      synapse({"ca", "sign", "abcd", "--name", "a", "--ca-dir", path("ca"), "-o", path("x")}),
      "neither a node ID");
  expect_user_error(
      synapse({"ca", "sign", "ed25519:12", "--name", "a", "--ca-dir", path("ca"), "-o", path("x")}),
      "invalid public key");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "x"));
}

TEST_F(CaCli, InstallRefusesCertificatesThisNodeMustNotUse) {
  init_node();
  std::string other = init_node("other");
  std::string ca_key = init_ca();
  init_ca("ca2");
  std::string id = line(synapse({"id"}));

  ASSERT_EQ(sign(other, "mallory", "other.cert").exit_code, 0);
  expect_user_error(synapse({"cert", "install", path("other.cert")}),
                    "issued for node " + other.substr(0, 8) + ", not for this node");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "node/certificate.pem"));

  // Signed by a CA the swarm does not trust.
  set_config("ca = \"" + ca_key + "\"\n");
  ASSERT_EQ(sign(id, "alice", "foreign.cert", "ca2").exit_code, 0);
  expect_user_error(synapse({"cert", "install", path("foreign.cert")}), "unknown CA");

  // Expired: signed directly with the CA key, with dates in the past.
  auto ca = crypto::CertificateAuthority::load(core::Env::posix(), dir_ / "ca/ca.key").value();
  auto expired =
      ca.sign(crypto::NodeId::parse(id).value(), "alice", {}, 1600000000, 1700000000, 1).value();
  write("expired.cert", expired.to_armored());
  expect_user_error(synapse({"cert", "install", path("expired.cert")}), "expired on 2023-11-14");

  // Not a certificate at all.
  write("junk.cert", "hello\n");
  expect_user_error(synapse({"cert", "install", path("junk.cert")}), "invalid certificate file");
  EXPECT_FALSE(std::filesystem::exists(dir_ / "node/certificate.pem"));
}

TEST_F(CaCli, RevokeWritesASignedListThatNodesEnforce) {
  std::string id = init_node();
  std::string ca_key = init_ca();
  ASSERT_EQ(sign(id, "alice", "alice.cert").exit_code, 0);
  auto certificate = crypto::Certificate::from_armored(read("alice.cert")).value();

  CommandResult first = synapse({"ca", "revoke", "42", "--ca-dir", path("ca")});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out,
            "wrote " + path("ca/revoked.crl") + " (sequence 1, revoking 0 nodes and 1 serial)\n");
  CommandResult again = synapse({"ca", "revoke", "42", "--ca-dir", path("ca")});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("already revoked (sequence 1, unchanged)"));

  // Installed while still valid; revoked afterwards, by serial.
  std::filesystem::copy_file(dir_ / "ca/revoked.crl", dir_ / "node/revoked.crl");
  set_config("ca = \"" + ca_key +
             "\"\nrequire_certificate = true\nrevocation_list = "
             "\"revoked.crl\"\n");
  ASSERT_EQ(synapse({"cert", "install", path("alice.cert")}).exit_code, 0);
  CommandResult second =
      synapse({"ca", "revoke", std::to_string(certificate.serial), id, "--ca-dir", path("ca")});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.out, HasSubstr("(sequence 2, revoking 1 node and 2 serials)"));
  std::filesystem::copy_file(dir_ / "ca/revoked.crl", dir_ / "node/revoked.crl",
                             std::filesystem::copy_options::overwrite_existing);

  CommandResult show = synapse({"cert", "show"});
  ASSERT_EQ(show.exit_code, 0) << show.err;
  EXPECT_THAT(show.out, HasSubstr("is revoked (serial " + std::to_string(certificate.serial)));
  expect_user_error(synapse({"cert", "install", path("alice.cert")}), "is revoked");

  CommandResult list = synapse({"cert", "show", "--json", path("ca/revoked.crl")});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  auto parsed = nlohmann::json::parse(list.out);
  EXPECT_EQ(parsed["kind"], "revocation-list");
  EXPECT_EQ(parsed["sequence"], 2);
  EXPECT_EQ(parsed["node_ids"], nlohmann::json::array({id}));
  EXPECT_EQ(parsed["serials"].size(), 2u);
  EXPECT_EQ(parsed["valid"], true);

  expect_user_error(synapse({"ca", "revoke", "not-a-node", "--ca-dir", path("ca")}),
                    "neither a node ID");
  expect_user_error(synapse({"ca", "revoke", "99999999999999999999", "--ca-dir", path("ca")}),
                    "too large");
}

TEST_F(CaCli, ARevocationListFromAnotherCaIsAConfigError) {
  init_node();
  std::string ca_key = init_ca();
  init_ca("ca2");
  ASSERT_EQ(synapse({"ca", "revoke", "1", "--ca-dir", path("ca2")}).exit_code, 0);
  std::filesystem::copy_file(dir_ / "ca2/revoked.crl", dir_ / "node/revoked.crl");
  ASSERT_EQ(sign(line(synapse({"id"})), "alice", "alice.cert").exit_code, 0);
  set_config("ca = \"" + ca_key + "\"\nrevocation_list = \"revoked.crl\"\n");
  expect_user_error(synapse({"cert", "install", path("alice.cert")}), "unknown CA");
}

TEST_F(CaCli, RequireCertificateWithoutACaIsAConfigErrorNamingTheKey) {
  init_node();
  set_config("require_certificate = true\n");
  expect_user_error(synapse({"cert", "show", path("whatever")}),
                    "config.toml:2: swarm.require_certificate: true needs swarm.ca");
}

}  // namespace
}  // namespace synapse
