// synapse add | get | cat | block get|stat|rm | repo stat|gc|verify | pin add|rm|ls
#include <unistd.h>

#include <thread>

#include "context.h"
#include "synapse/blockstore/file_reader.h"
#include "synapse/blockstore/importer.h"
#include "synapse/cli/progress.h"
#include "synapse/core/units.h"

namespace synapse::cli {

using core::ErrorCode;
using core::make_error;
using nlohmann::json;

namespace {

// Tells the node running on this home (if any) that the pins changed, so that it announces and
// replicates new files and forgets removed ones.
core::Status notify_node(Context& context) {
  auto client = connect_node(context);
  if (!client) {
    return client.error().code() == ErrorCode::kNotFound
               ? core::ok()
               : core::Status(tl::unexpected(client.error()));
  }
  SYNAPSE_ASSIGN_OR_RETURN(json ignored, client->call("pins.changed"));
  return core::ok();
}

// Fetches the file below `cid` into the local store through the running node, drawing a
// progress bar; returns the node's final report of the fetch.
core::Result<json> fetch_through_node(Context& context, const crypto::Cid& cid, bool quiet) {
  auto client = connect_node(context);
  if (!client && client.error().code() == ErrorCode::kNotFound) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "no node is running on " + context.home.string() +
                          ": start one with `synapse up` to fetch from the swarm");
  }
  if (!client) return tl::unexpected(client.error());
  SYNAPSE_ASSIGN_OR_RETURN(json started, client->call("get.start", {{"cid", cid.to_string()}}));
  const uint64_t id = started["id"].get<uint64_t>();
  core::SteadyClock clock;
  ProgressBar progress(clock, std::nullopt, !quiet && ::isatty(STDERR_FILENO), stderr);
  for (;;) {
    // The node keeps the fetch alive while it is polled (docs/control.md, get.progress).
    SYNAPSE_ASSIGN_OR_RETURN(json report, client->call("get.progress", {{"id", id}}));
    if (report["total_bytes"].get<uint64_t>() > 0) {
      progress.set_total(report["total_bytes"].get<uint64_t>());
    }
    const size_t providers = report["providers"].get<size_t>();
    progress.set_note(std::to_string(providers) + (providers == 1 ? " provider" : " providers"));
    progress.update(report["fetched_bytes"].get<uint64_t>() +
                    report["local_bytes"].get<uint64_t>());
    if (report["done"].get<bool>()) {
      progress.finish();
      if (!report["ok"].get<bool>()) {
        return make_error(core::error_code_from_name(report["error"]["code"].get<std::string>()),
                          "cannot fetch " + cid.to_string() + ": " +
                              report["error"]["message"].get<std::string>());
      }
      return report;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

struct GetOptions {
  std::string cid;
  std::string output;
  bool json = false;
  bool quiet = false;
};

core::Status run_get(Context& context, const GetOptions& options) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(options.cid));
  core::SteadyClock clock;
  const core::MonoTime start = clock.now();
  SYNAPSE_ASSIGN_OR_RETURN(json report, fetch_through_node(context, cid, options.quiet));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(auto reader, blockstore::FileReader::open(*store, cid));
  const std::string output = options.output.empty() ? cid.to_string() : options.output;
  if (output == "-") {
    SYNAPSE_RETURN_IF_ERROR(reader.read(0, UINT64_MAX, write_stdout, /*read_ahead=*/8));
  } else {
    // A regular file is written beside the target and renamed, so that the target is never
    // half-written; a device or a pipe (/dev/null, a FIFO) is written in place.
    std::error_code error;
    const auto type = std::filesystem::status(output, error).type();
    const bool in_place = type != std::filesystem::file_type::not_found &&
                          type != std::filesystem::file_type::regular;
    const std::filesystem::path target = in_place ? output : output + ".part";
    SYNAPSE_ASSIGN_OR_RETURN(auto file, context.env.open_writable(target));
    auto written = reader.read(
        0, UINT64_MAX, [&](core::ByteView piece) { return file->append(piece); },
        /*read_ahead=*/8);
    if (written) written = file->close();
    if (written && !in_place) written = context.env.rename_file(target, output);
    if (!written) {
      if (!in_place) std::filesystem::remove(target, error);
      return tl::unexpected(written.error().with_context("cannot write " + output));
    }
  }
  const double seconds = std::chrono::duration<double>(clock.now() - start).count();
  json out = {
      {"cid", cid.to_string()},
      {"bytes", reader.size()},
      {"fetched_bytes", report["fetched_bytes"]},
      {"local_bytes", report["local_bytes"]},
      {"blocks", report["fetched_blocks"].get<uint64_t>() + report["local_blocks"].get<uint64_t>()},
      {"fetched_blocks", report["fetched_blocks"]},
      {"bad_blocks", report["bad_blocks"]},
      {"providers", report["providers_used"]},
      {"seconds", seconds},
      {"output", output}};
  if (options.json) return output == "-" ? core::ok() : print_line(out.dump());
  if (options.quiet || output == "-") return core::ok();
  const int providers = report["providers_used"].get<int>();
  std::fprintf(stderr, "%s: %s in %.1f s (%s fetched from %d provider%s, %s held already)\n",
               output.c_str(), core::format_size(reader.size()).c_str(), seconds,
               core::format_size(report["fetched_bytes"].get<uint64_t>()).c_str(), providers,
               providers == 1 ? "" : "s",
               core::format_size(report["local_bytes"].get<uint64_t>()).c_str());
  return core::ok();
}

struct AddOptions {
  std::string input;
  std::string preset;
  bool no_pin = false;
  bool quiet = false;
};

core::Status run_add(Context& context, const AddOptions& options) {
  SYNAPSE_ASSIGN_OR_RETURN(const Config* config, context.config());
  SYNAPSE_ASSIGN_OR_RETURN(
      blockstore::ImportOptions import_options,
      blockstore::import_preset(options.preset.empty() ? config->import_preset : options.preset));
  std::unique_ptr<core::SequentialFile> input;
  if (options.input == "-") {
    input = context.env.stdin_file();
  } else {
    SYNAPSE_ASSIGN_OR_RETURN(input, context.env.open_sequential(options.input));
  }
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  core::SteadyClock clock;
  ProgressBar progress(clock, input->size_hint(), !options.quiet && ::isatty(STDERR_FILENO),
                       stderr);
  blockstore::ImportCallbacks callbacks{.progress = [&](uint64_t done) { progress.update(done); }};
  auto result = blockstore::import_file(*store, *input, import_options, !options.no_pin, callbacks);
  progress.finish();
  if (!result) return tl::unexpected(result.error().with_context("cannot add " + options.input));
  SYNAPSE_RETURN_IF_ERROR(print_line(result->root.to_string()));
  return options.no_pin ? core::ok() : notify_node(context);
}

struct CatOptions {
  std::string cid;
  uint64_t offset = 0;
  std::optional<uint64_t> length;
};

core::Status run_cat(Context& context, const CatOptions& options) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(options.cid));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(auto reader, blockstore::FileReader::open(*store, cid));
  // Eight blocks ahead: two workers hash while this thread writes (docs/benchmarks.md).
  return reader.read(options.offset, options.length.value_or(UINT64_MAX), write_stdout,
                     /*read_ahead=*/8);
}

core::Status run_block_get(Context& context, const std::string& text) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(text));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(core::Bytes bytes, store->get(cid));
  return write_stdout(bytes);
}

core::Status run_block_stat(Context& context, const std::string& text, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(text));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t size, store->size(cid));
  SYNAPSE_ASSIGN_OR_RETURN(uint64_t references, store->references(cid));
  json out = {{"cid", cid.to_string()},
              {"cid_v1", cid.to_v1().to_string()},
              {"codec", crypto::codec_name(cid.codec())},
              {"size", size},
              {"references", references}};
  if (as_json) return print_json(out);
  return print_line("cid         " + cid.to_string() + "\ncodec       " +
                    std::string(crypto::codec_name(cid.codec())) + "\nsize        " +
                    std::to_string(size) + "\nreferences  " + std::to_string(references));
}

core::Status run_block_rm(Context& context, const std::string& text) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(text));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  return store->remove(cid);
}

core::Status run_repo_stat(Context& context, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::StoreStats stats, store->stats());
  if (as_json) {
    return print_json({{"path", context.store_path().string()},
                       {"blocks", stats.blocks},
                       {"bytes", stats.bytes},
                       {"capacity", stats.capacity},
                       {"pinned_roots", stats.pinned_roots},
                       {"referenced_blocks", stats.referenced},
                       {"missing_blocks", stats.missing},
                       {"corrupt_removed", stats.corrupt_removed}});
  }
  return print_line("path             " + context.store_path().string() + "\nblocks           " +
                    std::to_string(stats.blocks) + "\nsize             " +
                    core::format_size(stats.bytes) + " of " + core::format_size(stats.capacity) +
                    "\npinned roots     " + std::to_string(stats.pinned_roots) +
                    "\nreferenced       " + std::to_string(stats.referenced) +
                    "\nmissing          " + std::to_string(stats.missing) + "\ncorrupt removed  " +
                    std::to_string(stats.corrupt_removed));
}

core::Status run_repo_gc(Context& context) {
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::GcResult result, store->gc());
  return print_line("removed " + std::to_string(result.blocks_removed) + " blocks, freed " +
                    core::format_size(result.bytes_freed));
}

core::Status run_repo_verify(Context& context) {
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::VerifyResult result, store->verify());
  SYNAPSE_RETURN_IF_ERROR(print_line("checked " + std::to_string(result.blocks_checked) +
                                     " blocks (" + core::format_size(result.bytes_checked) + "), " +
                                     std::to_string(result.corrupt.size()) + " corrupt, " +
                                     std::to_string(result.missing) + " missing"));
  for (const crypto::Cid& cid : result.corrupt) {
    SYNAPSE_RETURN_IF_ERROR(print_line("corrupt and removed: " + cid.to_string()));
  }
  if (!result.corrupt.empty()) {
    return make_error(ErrorCode::kCorrupt, std::to_string(result.corrupt.size()) +
                                               " corrupt block(s) were found and removed");
  }
  return core::ok();
}

core::Status run_pin(Context& context, const std::string& text, bool add) {
  SYNAPSE_ASSIGN_OR_RETURN(crypto::Cid cid, parse_cid_argument(text));
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  if (add) {
    auto pinned = store->pin(cid);
    if (!pinned && pinned.error().code() == ErrorCode::kNotFound) {
      // Not all here: fetch it through the running node first.
      SYNAPSE_ASSIGN_OR_RETURN(json ignored, fetch_through_node(context, cid, false));
      pinned = store->pin(cid);
    }
    SYNAPSE_RETURN_IF_ERROR(pinned);
  } else {
    SYNAPSE_RETURN_IF_ERROR(store->unpin(cid));
  }
  return notify_node(context);
}

core::Status run_pin_ls(Context& context, bool as_json) {
  json pins = json::array();
  if (auto client = connect_node(context)) {
    // With holders and the target, as of the node's last replication check.
    SYNAPSE_ASSIGN_OR_RETURN(json listed, client->call("pin.ls"));
    pins = listed["pins"];
  } else {
    SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
    SYNAPSE_ASSIGN_OR_RETURN(std::vector<blockstore::PinInfo> local, store->pins());
    for (const auto& pin : local) {
      pins.push_back({{"cid", pin.root.to_string()},
                      {"count", pin.count},
                      {"holders", nullptr},
                      {"target", nullptr}});
    }
  }
  if (as_json) return print_json(pins);
  for (const json& pin : pins) {
    std::string line = pin["cid"].get<std::string>() + "  pinned " +
                       std::to_string(pin["count"].get<uint64_t>()) + "x";
    if (!pin["holders"].is_null()) {
      line += ", held by " + std::to_string(pin["holders"].get<size_t>()) + " of " +
              std::to_string(pin["target"].get<size_t>()) + " nodes";
    }
    SYNAPSE_RETURN_IF_ERROR(print_line(line));
  }
  return core::ok();
}

// Adds `name CID` whose work is `run(cid)`.
CLI::App* add_cid_command(CLI::App& parent, const std::string& name, const std::string& help,
                          Action& action, std::function<core::Status(const std::string&)> run) {
  auto cid = std::make_shared<std::string>();
  CLI::App* command = parent.add_subcommand(name, help);
  command->add_option("cid", *cid, "Content ID (Qm... or b...)")->required();
  command->callback([&action, cid, run] { action = [cid, run] { return run(*cid); }; });
  return command;
}

}  // namespace

void add_data_commands(CLI::App& app, Context& context, Action& action) {
  auto add_options = std::make_shared<AddOptions>();
  CLI::App* add = app.add_subcommand(
      "add", "Store a file as content-addressed blocks, pin it, and print its CID");
  add->add_option("file", add_options->input, "File to add, or - for standard input")->required();
  add->add_option("--preset", add_options->preset,
                  "Layout: kubo-default, v1-raw-256k (default) or v1-2025-1MiB; the same bytes "
                  "and preset give the same CID as IPFS");
  add->add_flag("--no-pin", add_options->no_pin, "Do not pin (the blocks are then garbage)");
  add->add_flag("-q,--quiet", add_options->quiet, "No progress bar");
  add->callback(
      [&, add_options] { action = [&, add_options] { return run_add(context, *add_options); }; });

  auto get_options = std::make_shared<GetOptions>();
  CLI::App* get = app.add_subcommand(
      "get", "Fetch a file from the swarm (many providers at once) and write it to a file");
  get->add_option("cid", get_options->cid, "The file's CID")->required();
  get->add_option("-o,--output", get_options->output,
                  "File to write (default: the CID in the current folder); - for standard output");
  get->add_flag("--json", get_options->json, "Print a machine-readable report at the end");
  get->add_flag("-q,--quiet", get_options->quiet, "No progress bar");
  get->callback(
      [&, get_options] { action = [&, get_options] { return run_get(context, *get_options); }; });

  auto cat_options = std::make_shared<CatOptions>();
  CLI::App* cat =
      app.add_subcommand("cat", "Write a file's bytes (or a range of them) to standard output");
  cat->add_option("cid", cat_options->cid, "The file's CID")->required();
  cat->add_option("--offset", cat_options->offset, "First byte to write (default 0)");
  cat->add_option("--length", cat_options->length,
                  "Number of bytes to write (default: to the end)");
  cat->callback(
      [&, cat_options] { action = [&, cat_options] { return run_cat(context, *cat_options); }; });

  CLI::App* block = app.add_subcommand("block", "Single blocks");
  block->require_subcommand(1);
  add_cid_command(*block, "get", "Write a block's raw bytes to standard output", action,
                  [&](const std::string& cid) { return run_block_get(context, cid); });
  auto block_json = std::make_shared<bool>(false);
  add_cid_command(
      *block, "stat", "Show a block's size, codec and reference count", action,
      [&, block_json](const std::string& cid) { return run_block_stat(context, cid, *block_json); })
      ->add_flag("--json", *block_json, "Machine-readable output");
  add_cid_command(*block, "rm", "Remove an unreferenced block", action,
                  [&](const std::string& cid) { return run_block_rm(context, cid); });

  CLI::App* repo = app.add_subcommand("repo", "The local block store");
  repo->require_subcommand(1);
  auto repo_json = std::make_shared<bool>(false);
  CLI::App* stat = repo->add_subcommand("stat", "Blocks, bytes, capacity, pins, corruption seen");
  stat->add_flag("--json", *repo_json, "Machine-readable output");
  stat->callback(
      [&, repo_json] { action = [&, repo_json] { return run_repo_stat(context, *repo_json); }; });
  repo->add_subcommand("gc", "Remove every block that no pin references")->callback([&] {
    action = [&] { return run_repo_gc(context); };
  });
  repo->add_subcommand("verify",
                       "Check every block against its CID; remove corrupt ones (exit 2 if any)")
      ->callback([&] { action = [&] { return run_repo_verify(context); }; });

  CLI::App* pin = app.add_subcommand("pin", "Pins keep a file's blocks from garbage collection");
  pin->require_subcommand(1);
  add_cid_command(*pin, "add",
                  "Pin a file (fetching what is missing through the running node) and keep it "
                  "replicated",
                  action, [&](const std::string& cid) { return run_pin(context, cid, true); });
  add_cid_command(*pin, "rm", "Remove one pin of a root", action,
                  [&](const std::string& cid) { return run_pin(context, cid, false); });
  auto pin_json = std::make_shared<bool>(false);
  CLI::App* ls = pin->add_subcommand(
      "ls", "List pinned roots, their pin counts and (with a running node) their live holders");
  ls->add_flag("--json", *pin_json, "Machine-readable output");
  ls->callback(
      [&, pin_json] { action = [&, pin_json] { return run_pin_ls(context, *pin_json); }; });
}

}  // namespace synapse::cli
