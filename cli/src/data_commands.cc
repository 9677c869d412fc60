// synapse add | cat | block get|stat|rm | repo stat|gc|verify | pin add|rm|ls
#include <unistd.h>

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
  return print_line(result->root.to_string());
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
  return add ? store->pin(cid) : store->unpin(cid);
}

core::Status run_pin_ls(Context& context, bool as_json) {
  SYNAPSE_ASSIGN_OR_RETURN(blockstore::BlockStore * store, context.store());
  SYNAPSE_ASSIGN_OR_RETURN(std::vector<blockstore::PinInfo> pins, store->pins());
  if (as_json) {
    json out = json::array();
    for (const auto& pin : pins)
      out.push_back({{"cid", pin.root.to_string()}, {"count", pin.count}});
    return print_json(out);
  }
  for (const auto& pin : pins) {
    SYNAPSE_RETURN_IF_ERROR(print_line(pin.root.to_string() + "  " + std::to_string(pin.count)));
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
  add_cid_command(*pin, "add", "Pin a root and every block below it (all must be stored)", action,
                  [&](const std::string& cid) { return run_pin(context, cid, true); });
  add_cid_command(*pin, "rm", "Remove one pin of a root", action,
                  [&](const std::string& cid) { return run_pin(context, cid, false); });
  auto pin_json = std::make_shared<bool>(false);
  CLI::App* ls = pin->add_subcommand("ls", "List pinned roots and their pin counts");
  ls->add_flag("--json", *pin_json, "Machine-readable output");
  ls->callback(
      [&, pin_json] { action = [&, pin_json] { return run_pin_ls(context, *pin_json); }; });
}

}  // namespace synapse::cli
