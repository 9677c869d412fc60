// What every command needs: the home folder, its config and block store, and output helpers.
#pragma once

#include <CLI/CLI.hpp>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "synapse/blockstore/block_store.h"
#include "synapse/cli/config.h"
#include "synapse/core/env.h"
#include "synapse/crypto/admission.h"
#include "synapse/daemon/control.h"

namespace synapse::cli {

// The work a parsed command line asks for; run after CLI11 has finished parsing.
using Action = std::function<core::Status()>;

class Context {
 public:
  std::filesystem::path home;
  core::Env& env = core::Env::posix();

  std::filesystem::path identity_path() const { return home / "identity.key"; }
  // --config; empty: <home>/config.toml.
  std::filesystem::path config_file;

  std::filesystem::path config_path() const {
    return config_file.empty() ? home / "config.toml" : config_file;
  }
  std::filesystem::path store_path() const { return home / "blocks"; }
  std::filesystem::path certificate_path() const { return home / "certificate.pem"; }

  // Fails with kNotFound ("run `synapse init` first") if the home folder does not exist.
  core::Status require_home();
  core::Result<const Config*> config();
  // The swarm key file named by the config (swarm.key_file, default <home>/swarm.key).
  core::Result<std::filesystem::path> swarm_key_path();
  // Opens the block store on first use.
  core::Result<blockstore::BlockStore*> store();

 private:
  std::optional<Config> config_;
  std::unique_ptr<blockstore::BlockStore> store_;
};

// Connects to the node running on the context's home (kNotFound when none runs).
core::Result<daemon::ControlClient> connect_node(Context& context);

// Writes all of `data` to standard output (retrying short writes).
core::Status write_stdout(core::ByteView data);
core::Status print_line(const std::string& line);
core::Status print_json(const nlohmann::json& value);

// Parses a CID argument, naming the argument in the error.
core::Result<crypto::Cid> parse_cid_argument(const std::string& text);

// Registration of the command groups on the top-level app. Each stores its work in `action`.
void add_node_commands(CLI::App& app, Context& context, Action& action);
void add_data_commands(CLI::App& app, Context& context, Action& action);
void add_ca_commands(CLI::App& app, Context& context, Action& action);
void add_daemon_commands(CLI::App& app, Context& context, Action& action);
void add_job_commands(CLI::App& app, Context& context, Action& action);
void add_generate_commands(CLI::App& app, Context& context, Action& action);

// The peer admission policy from the [swarm] config: the CA key, require_certificate and the
// revocation list file (loaded and checked against the CA). docs/certificates.md.
core::Result<crypto::AdmissionPolicy> load_admission_policy(Context& context);

}  // namespace synapse::cli
