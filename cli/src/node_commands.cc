// synapse init | id [--public-key] | swarm new | swarm id
#include "context.h"
#include "synapse/crypto/certificate.h"
#include "synapse/crypto/identity.h"
#include "synapse/crypto/swarm_key.h"
#include "synapse/crypto/system_rng.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;

namespace {

struct InitOptions {
  bool force = false;
  bool if_missing = false;
};

core::Status run_init(Context& context, const InitOptions& options) {
  SYNAPSE_RETURN_IF_ERROR(context.env.create_dirs(context.home, 0700));
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, context.env.exists(context.identity_path()));
  if (exists && options.if_missing) {
    SYNAPSE_ASSIGN_OR_RETURN(auto identity,
                             crypto::NodeIdentity::load(context.env, context.identity_path()));
    return print_line(identity.node_id().to_hex());
  }
  if (exists && !options.force) {
    return make_error(ErrorCode::kAlreadyExists, "an identity already exists at " +
                                                     context.identity_path().string() +
                                                     " (use --force to replace it)");
  }
  crypto::SystemRng rng;
  crypto::NodeIdentity identity = crypto::NodeIdentity::generate(rng);
  SYNAPSE_RETURN_IF_ERROR(identity.save(context.env, context.identity_path(), options.force));
  SYNAPSE_ASSIGN_OR_RETURN(bool has_config, context.env.exists(context.config_path()));
  if (!has_config) {
    SYNAPSE_RETURN_IF_ERROR(context.env.write_file_atomic(
        context.config_path(), core::as_bytes(Config::default_text()), 0644, false));
  }
  return print_line(identity.node_id().to_hex());
}

core::Status run_id(Context& context, bool public_key) {
  SYNAPSE_RETURN_IF_ERROR(context.require_home());
  SYNAPSE_ASSIGN_OR_RETURN(auto identity,
                           crypto::NodeIdentity::load(context.env, context.identity_path()));
  if (public_key) return print_line(crypto::format_public_key(identity.public_key()));
  return print_line(identity.node_id().to_hex());
}

struct SwarmNewOptions {
  std::string output;
  bool force = false;
};

core::Status run_swarm_new(Context& context, const SwarmNewOptions& options) {
  crypto::SystemRng rng;
  crypto::SwarmKey key = crypto::SwarmKey::generate(rng);
  if (options.output.empty()) return write_stdout(core::as_bytes(key.to_file_text()));
  return context.env.write_file_atomic(options.output, core::as_bytes(key.to_file_text()), 0600,
                                       options.force);
}

core::Status run_swarm_id(Context& context, const std::string& file) {
  std::filesystem::path path = file;
  if (file.empty()) {
    SYNAPSE_ASSIGN_OR_RETURN(path, context.swarm_key_path());
  }
  SYNAPSE_ASSIGN_OR_RETURN(crypto::SwarmKey key, crypto::SwarmKey::load(context.env, path));
  return print_line(key.id());
}

}  // namespace

void add_node_commands(CLI::App& app, Context& context, Action& action) {
  auto init_options = std::make_shared<InitOptions>();
  CLI::App* init = app.add_subcommand(
      "init",
      "Create this node's identity (an Ed25519 key) and a default config in the home "
      "folder, and print the node ID");
  init->add_flag("--force", init_options->force, "Replace an existing identity (a new node ID)");
  init->add_flag("--if-missing", init_options->if_missing,
                 "Keep an existing identity (and print its ID): for a service's first start");
  init->callback([&, init_options] {
    action = [&, init_options] { return run_init(context, *init_options); };
  });

  auto id_public_key = std::make_shared<bool>(false);
  CLI::App* id = app.add_subcommand("id", "Print this node's ID (SHA-256 of its public key, hex)");
  id->add_flag("--public-key", *id_public_key,
               "Print the public key instead (ed25519:<hex>), e.g. for `synapse ca sign`");
  id->callback([&, id_public_key] {
    action = [&, id_public_key] { return run_id(context, *id_public_key); };
  });

  CLI::App* swarm = app.add_subcommand("swarm", "Swarm keys: the secret every member holds");
  swarm->require_subcommand(1);
  auto new_options = std::make_shared<SwarmNewOptions>();
  CLI::App* swarm_new = swarm->add_subcommand(
      "new", "Make a new swarm key (IPFS swarm.key format) and print it, or write it with -o");
  swarm_new->add_option("-o,--output", new_options->output, "Write the key to FILE (mode 0600)");
  swarm_new->add_flag("--force", new_options->force, "Replace an existing FILE");
  swarm_new->callback([&, new_options] {
    action = [&, new_options] { return run_swarm_new(context, *new_options); };
  });
  auto id_file = std::make_shared<std::string>();
  CLI::App* swarm_id = swarm->add_subcommand(
      "id", "Check a swarm key file and print its public fingerprint (same key, same ID)");
  swarm_id->add_option("file", *id_file,
                       "The key file (default: swarm.key_file from the config, <home>/swarm.key)");
  swarm_id->callback(
      [&, id_file] { action = [&, id_file] { return run_swarm_id(context, *id_file); }; });
}

}  // namespace synapse::cli
