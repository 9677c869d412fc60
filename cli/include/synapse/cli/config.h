// The node's configuration file (<home>/config.toml). Every key is optional; default_text()
// is the documented file `synapse init` writes, listing every key with its default.
// Reference: docs/config.md.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "synapse/blockstore/lmdb_store.h"
#include "synapse/core/env.h"
#include "synapse/core/result.h"

namespace synapse::cli {

struct Config {
  blockstore::LmdbOptions store;
  std::string import_preset = "v1-raw-256k";

  // Parses TOML text. Errors are one line naming the source, the line and the key: syntax
  // errors, unknown sections or keys, values of the wrong type, invalid sizes or presets.
  static core::Result<Config> parse(std::string_view text, std::string_view source);
  // Loads `path`; a missing file gives the defaults.
  static core::Result<Config> load(core::Env& env, const std::filesystem::path& path);
  static std::string default_text();
};

}  // namespace synapse::cli
