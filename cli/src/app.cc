#include "synapse/cli/app.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "context.h"

namespace synapse::cli {

namespace {

constexpr int kExitUserError = 1;
constexpr int kExitInternalError = 2;

std::string default_home() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') {
    const passwd* entry = ::getpwuid(::getuid());
    home = entry ? entry->pw_dir : "/";
  }
  return std::string(home) + "/.synapse";
}

void print_error(const std::string& message) {
  std::fprintf(stderr, "synapse: %s\n", message.c_str());
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app(
      "Synapse: a peer-to-peer pool of disk and compute for campus and company "
      "networks.\nData is content-addressed (IPFS-compatible CIDs) and verified on "
      "every read.",
      "synapse");
  app.set_version_flag("--version", SYNAPSE_VERSION);
  app.require_subcommand(1);
  app.fallthrough();
  app.footer(
      "Examples:\n  synapse init\n  cid=$(synapse add big.iso)\n  synapse cat $cid > copy.iso\n"
      "  synapse repo stat\n\nExit codes: 0 ok, 1 user error, 2 internal error.");

  Context context;
  std::string home = default_home();
  app.add_option("--home", home, "Node home folder: identity, config, blocks")
      ->envname("SYNAPSE_HOME")
      ->capture_default_str();
  std::string config_file;
  app.add_option("--config", config_file, "Config file (default: <home>/config.toml)")
      ->envname("SYNAPSE_CONFIG");

  Action action;
  add_node_commands(app, context, action);
  add_data_commands(app, context, action);
  add_ca_commands(app, context, action);
  add_daemon_commands(app, context, action);
  add_job_commands(app, context, action);
  add_generate_commands(app, context, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    print_error(std::string(e.what()) + " (see synapse --help)");
    return kExitUserError;
  }
  context.home = home;
  context.config_file = config_file;

  try {
    core::Status status = action();
    if (!status) {
      print_error(status.error().message());
      return core::is_user_error(status.error().code()) ? kExitUserError : kExitInternalError;
    }
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what());
    return kExitInternalError;
  }
  return 0;
}

}  // namespace synapse::cli
