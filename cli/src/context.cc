#include "context.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "synapse/blockstore/lmdb_store.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;

core::Status Context::require_home() {
  SYNAPSE_ASSIGN_OR_RETURN(bool exists, env.exists(home));
  if (!exists) {
    return make_error(ErrorCode::kNotFound,
                      "no Synapse home at " + home.string() + " (run `synapse init` first)");
  }
  return core::ok();
}

core::Result<const Config*> Context::config() {
  if (!config_) {
    SYNAPSE_ASSIGN_OR_RETURN(config_, Config::load(env, config_path()));
  }
  return &*config_;
}

core::Result<std::filesystem::path> Context::swarm_key_path() {
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, this->config());
  return home / config->swarm.key_file;
}

core::Result<blockstore::BlockStore*> Context::store() {
  if (!store_) {
    SYNAPSE_RETURN_IF_ERROR(require_home());
    SYNAPSE_ASSIGN_OR_RETURN(const Config* config, this->config());
    SYNAPSE_RETURN_IF_ERROR(env.create_dirs(store_path(), 0700));
    SYNAPSE_ASSIGN_OR_RETURN(store_, blockstore::open_lmdb_store(store_path(), config->store));
  }
  return store_.get();
}

core::Status write_stdout(core::ByteView data) {
  while (!data.empty()) {
    ssize_t n = ::write(STDOUT_FILENO, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return make_error(ErrorCode::kIo,
                        std::string("cannot write output: ") + std::strerror(errno));
    }
    data = data.subspan(static_cast<size_t>(n));
  }
  return core::ok();
}

core::Status print_line(const std::string& line) {
  return write_stdout(core::as_bytes(line + "\n"));
}

core::Status print_json(const nlohmann::json& value) { return print_line(value.dump(2)); }

core::Result<crypto::Cid> parse_cid_argument(const std::string& text) {
  auto cid = crypto::Cid::parse(text);
  if (!cid) return tl::unexpected(cid.error().with_context("invalid CID '" + text + "'"));
  return cid;
}

core::Result<daemon::ControlClient> connect_node(Context& context) {
  SYNAPSE_RETURN_IF_ERROR(context.require_home());
  return daemon::ControlClient::connect(context.home / "control.sock");
}

}  // namespace synapse::cli
