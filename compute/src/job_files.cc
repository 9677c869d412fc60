// Jobs' files in the shared tree and on the node's disk (job_files.h). This is an adapter: it
// reads and writes local files (POSIX), walks local folders (std::filesystem) and runs tar.
#include "synapse/compute/job_files.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <set>
#include <thread>

#include "synapse/compute/layout.h"

extern char** environ;

namespace synapse::compute {

using core::ErrorCode;
using core::make_error;
namespace stdfs = std::filesystem;

namespace {

constexpr size_t kMaxStatusBytes = size_t{64} << 20;
constexpr size_t kMaxCtlBytes = 4096;
constexpr size_t kMaxWalk = 100'000;
constexpr int kMaxNameTries = 1000;

core::ByteView bytes_of(std::string_view text) { return core::as_bytes(text); }

std::string hex8(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(value));
  return std::string(text).substr(0, 8);
}

// A relative symlink target from tree folder `from` to tree path `to`.
std::string relative_target(const std::string& from, const std::string& to) {
  std::string target;
  const size_t depth = from.empty() ? 0 : std::count(from.begin(), from.end(), '/') + 1;
  for (size_t i = 0; i < depth; ++i) target += "../";
  return target + to;
}

core::Status io_error(const std::string& what) {
  return make_error(ErrorCode::kIo, what + ": " + std::strerror(errno));
}

// Bytes [offset, offset + length) of a local file (fewer at its end; none if it is missing).
core::Result<std::string> read_local(const stdfs::path& path, uint64_t offset, size_t length) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return std::string();
    return tl::unexpected(io_error("open " + path.string()).error());
  }
  std::string out(length, '\0');
  size_t done = 0;
  while (done < length) {
    const ssize_t n =
        ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      return tl::unexpected(io_error("read " + path.string()).error());
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(done);
  return out;
}

uint64_t local_size(const stdfs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

// Runs `argv` and waits; kIo naming it when it fails.
core::Status run(const std::vector<std::string>& argv) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  if (int error = ::posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ);
      error != 0) {
    return make_error(ErrorCode::kIo, argv[0] + ": " + std::strerror(error));
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return io_error("waitpid");
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return make_error(ErrorCode::kIo, argv[0] + " failed (status " + std::to_string(status) + ")");
  }
  return core::ok();
}

}  // namespace

std::vector<OutputPlace> output_places(const JobSpec& spec, const std::string& job, uint32_t task,
                                       bool array) {
  const std::string folder = layout::task_folder(job, task, array);
  if (spec.outputs.empty()) {
    return {OutputPlace{"/out", folder + "/" + std::string(layout::kOutputsDir), ""}};
  }
  std::vector<OutputPlace> out;
  std::set<std::string> links;
  for (const Mount& mount : spec.outputs) {
    OutputPlace place;
    place.sandbox_path = mount.sandbox_path;
    place.destination = mount.shared_path;
    if (array) place.destination = fs::join_path(place.destination, std::to_string(task));
    std::string link = fs::split_path(mount.sandbox_path.substr(1)).second;
    for (int n = 2; links.count(link); ++n) {
      link = fs::split_path(mount.sandbox_path.substr(1)).second + "-" + std::to_string(n);
    }
    links.insert(link);
    place.link = link;
    out.push_back(place);
  }
  return out;
}

std::string sandbox_name(const AttemptRef& attempt) {
  std::string job;
  for (char c : attempt.key.job)
    job += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return job + "-" + hex8(attempt.key.instance) + "." + std::to_string(attempt.key.task) + "." +
         std::to_string(attempt.attempt);
}

JobFiles::JobFiles(fs::Tree& tree, core::Env& env, JobFilesOptions options)
    : tree_(tree), env_(env), options_(std::move(options)) {}

// ---- The spool ----

core::Result<std::string> JobFiles::unique_name(const std::string& wanted) {
  for (int n = 1; n <= kMaxNameTries; ++n) {
    std::string name = wanted;
    if (n > 1) {
      const std::string suffix = "-" + std::to_string(n);
      name = wanted.substr(0, kMaxJobNameLength - suffix.size()) + suffix;
    }
    auto made = tree_.make_dir(layout::job_folder(name));
    if (made) return name;
    if (made.error().code() != ErrorCode::kAlreadyExists) return tl::unexpected(made.error());
  }
  return make_error(ErrorCode::kAlreadyExists, "no free job name like " + wanted);
}

Intake JobFiles::take_submission(std::string_view path, JobRecord& record) {
  Intake intake;
  auto attr = tree_.stat(path);
  if (!attr || attr->type != fs::FileType::kRegular) return intake;
  const std::string file = fs::split_path(path).second;
  const std::string default_name = file.substr(0, file.size() - 5);  // without ".toml"
  auto text = tree_.read(path, kMaxSpecBytes);
  std::vector<SpecError> errors;
  std::optional<JobSpec> spec;
  if (!text) {
    if (text.error().code() != ErrorCode::kInvalidArgument) return intake;  // gone meanwhile
    errors.push_back(
        {0, "", "the spec is larger than " + std::to_string(kMaxSpecBytes) + " bytes"});
  } else {
    auto parsed = parse_spec(*text, default_name);
    if (parsed) {
      spec = std::move(*parsed);
    } else {
      errors = std::move(parsed.error());
    }
  }
  if (spec) {
    for (const Mount& input : spec->inputs) {
      auto exists = tree_.exists(input.shared_path);
      if (!exists || !*exists) {
        errors.push_back(
            {input.line, "inputs." + input.sandbox_path,
             std::string(kSharedPrefix) + "/" + input.shared_path + " does not exist"});
      }
    }
    if (spec->image.kind == ImageKind::kShared) {
      auto exists = tree_.exists(spec->image.path);
      if (!exists || !*exists) {
        errors.push_back({spec->image.line, "image",
                          std::string(kSharedPrefix) + "/" + spec->image.path + " does not exist"});
      }
    }
    std::stable_sort(errors.begin(), errors.end(),
                     [](const SpecError& a, const SpecError& b) { return a.line < b.line; });
  }
  const std::string wanted =
      spec ? spec->name : (valid_job_name(default_name) ? default_name : std::string("invalid"));
  auto name = unique_name(wanted);
  if (!name) return intake;
  const std::string folder = layout::job_folder(*name);
  // Moving the file consumes the submission: of two takers only one succeeds.
  if (!tree_.rename(path, fs::join_path(folder, layout::kSpecFile), fs::RenameMode::kNoReplace)) {
    (void)tree_.remove_tree(folder);
    return intake;
  }
  (void)tree_.write(fs::join_path(folder, layout::kCtlFile), {});
  intake.name = *name;
  if (!errors.empty() || !spec) {
    intake.outcome = Intake::Outcome::kRejected;
    intake.errors = std::move(errors);
    (void)reject(*name, text.value_or(""), intake.errors, record);
    return intake;
  }
  spec->name = *name;
  intake.outcome = Intake::Outcome::kAccepted;
  intake.spec = std::move(*spec);
  intake.spec_text = std::move(*text);
  return intake;
}

core::Status JobFiles::reject(const std::string& name, const std::string&,
                              const std::vector<SpecError>& errors, JobRecord& record) {
  record.name = name;
  record.state = TaskState::kRejected;
  record.reason =
      "invalid spec: " + (errors.empty() ? std::string("?") : errors.front().to_string());
  if (errors.size() > 1) record.reason += " (and " + std::to_string(errors.size() - 1) + " more)";
  record.ended_ms = record.submitted_ms;
  record.tasks.clear();
  const std::string folder = layout::job_folder(name);
  SYNAPSE_RETURN_IF_ERROR(tree_.write(fs::join_path(folder, layout::kStderrFile),
                                      bytes_of(format_errors(errors) + "\n")));
  return write_record(record, {format_time(record.submitted_ms) + " rejected: " + record.reason});
}

core::Status JobFiles::write_record(const JobRecord& record,
                                    const std::vector<std::string>& events) {
  const std::string folder = layout::job_folder(record.name);
  // The events first and the state last: whoever sees the new state (what people poll) finds
  // the rest written already.
  if (!events.empty()) {
    std::string lines;
    for (const std::string& line : events) lines += line + "\n";
    SYNAPSE_RETURN_IF_ERROR(
        tree_.append(fs::join_path(folder, layout::kEventsFile), bytes_of(lines)));
  }
  std::vector<std::pair<std::string, std::string>> files;
  if (!record.array && record.tasks.size() == 1 && record.tasks[0].exit_code &&
      is_terminal(record.tasks[0].state)) {
    files.emplace_back(layout::kExitCodeFile, std::to_string(*record.tasks[0].exit_code) + "\n");
  }
  if (record.array) {
    for (const TaskRecord& task : record.tasks) {
      const std::string dir = std::string(layout::kTasksDir) + "/" + std::to_string(task.index);
      if (task.exit_code && is_terminal(task.state)) {
        files.emplace_back(dir + "/" + std::string(layout::kExitCodeFile),
                           std::to_string(*task.exit_code) + "\n");
      }
      files.emplace_back(dir + "/" + std::string(layout::kStateFile),
                         std::string(state_name(task.state)) + "\n");
    }
  }
  files.emplace_back(layout::kStatusFile, job_to_json(record));
  files.emplace_back(layout::kStateFile, std::string(state_name(record.state)) + "\n");
  for (const auto& [file, text] : files) {
    {
      std::lock_guard lock(mu_);
      auto& written = written_[record.name];
      auto it = written.find(file);
      if (it != written.end() && it->second == text) continue;
    }
    const std::string path = fs::join_path(folder, file);
    auto wrote = tree_.write(path, bytes_of(text));
    if (!wrote && wrote.error().code() == ErrorCode::kNotFound) {
      SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(fs::split_path(path).first));
      wrote = tree_.write(path, bytes_of(text));
    }
    SYNAPSE_RETURN_IF_ERROR(wrote);
    std::lock_guard lock(mu_);
    written_[record.name][file] = text;
  }
  if (is_terminal(record.state)) {
    std::lock_guard lock(mu_);
    written_.erase(record.name);  // nothing more will change
  }
  return core::ok();
}

core::Result<JobRecord> JobFiles::read_record(const std::string& name) {
  SYNAPSE_ASSIGN_OR_RETURN(
      const std::string text,
      tree_.read(fs::join_path(layout::job_folder(name), layout::kStatusFile), kMaxStatusBytes));
  return job_from_json(text);
}

core::Result<std::string> JobFiles::read_spec(const std::string& name) {
  return tree_.read(fs::join_path(layout::job_folder(name), layout::kSpecFile), kMaxSpecBytes);
}

core::Result<std::vector<std::string>> JobFiles::job_names() {
  SYNAPSE_ASSIGN_OR_RETURN(const auto entries, tree_.list(layout::kSpool));
  std::vector<std::string> out;
  for (const fs::DirEntry& entry : entries) {
    if (entry.attr.type == fs::FileType::kDirectory && valid_job_name(entry.name)) {
      out.push_back(entry.name);
    }
  }
  return out;
}

core::Result<std::vector<std::string>> JobFiles::submissions() {
  SYNAPSE_ASSIGN_OR_RETURN(const auto entries, tree_.list(layout::kSpool));
  std::vector<std::string> out;
  for (const fs::DirEntry& entry : entries) {
    if (entry.attr.type == fs::FileType::kRegular && layout::is_submission(entry.name)) {
      out.push_back(fs::join_path(layout::kSpool, entry.name));
    }
  }
  return out;
}

core::Result<crypto::NodeId> JobFiles::writer_of(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const fs::ContentInfo info, tree_.content(path));
  return crypto::NodeId(info.writer);
}

core::Result<bool> JobFiles::cancel_asked(const std::string& name) {
  SYNAPSE_ASSIGN_OR_RETURN(
      const std::string text,
      tree_.read_range(fs::join_path(layout::job_folder(name), layout::kCtlFile), 0, kMaxCtlBytes));
  return text.find("cancel") != std::string::npos;
}

core::Status JobFiles::ask_cancel(const std::string& name) {
  const std::string folder = layout::job_folder(name);
  SYNAPSE_ASSIGN_OR_RETURN(const bool exists, tree_.exists(folder));
  if (!exists) return make_error(ErrorCode::kNotFound, "no job " + name);
  return tree_.write(fs::join_path(folder, layout::kCtlFile), bytes_of("cancel\n"));
}

core::Result<std::vector<std::pair<crypto::Cid, uint64_t>>> JobFiles::input_contents(
    const JobSpec& spec, size_t max_files) {
  std::vector<std::pair<crypto::Cid, uint64_t>> out;
  std::vector<std::string> files;
  for (const Mount& input : spec.inputs) {
    SYNAPSE_ASSIGN_OR_RETURN(const fs::Attr attr, tree_.stat(input.shared_path));
    if (attr.type == fs::FileType::kRegular) {
      files.push_back(input.shared_path);
      continue;
    }
    SYNAPSE_RETURN_IF_ERROR(
        tree_.walk(input.shared_path, kMaxWalk, [&](const std::string& path, const fs::Attr& a) {
          if (a.type == fs::FileType::kRegular) files.push_back(path);
          return true;
        }));
  }
  for (const std::string& path : files) {
    auto info = tree_.content(path);
    if (info && info->content) out.emplace_back(*info->content, info->size);
  }
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  if (out.size() > max_files) out.erase(out.begin() + static_cast<ptrdiff_t>(max_files), out.end());
  return out;
}

core::Status JobFiles::commit_outputs(const JobRecord& record, const JobSpec& spec, uint32_t task,
                                      const std::string& staged) {
  const std::vector<OutputPlace> places = output_places(spec, record.name, task, record.array);
  const std::string outputs =
      fs::join_path(layout::task_folder(record.name, task, record.array), layout::kOutputsDir);
  for (size_t k = 0; k < places.size(); ++k) {
    const OutputPlace& place = places[k];
    const std::string source = fs::join_path(staged, std::to_string(k));
    SYNAPSE_ASSIGN_OR_RETURN(const bool staged_here, appears(source));
    if (!staged_here) continue;
    SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(fs::split_path(place.destination).first));
    SYNAPSE_ASSIGN_OR_RETURN(const bool exists, tree_.exists(place.destination));
    if (exists) {
      // Swapped in one step (readers see the old or the new outputs), then the old removed.
      SYNAPSE_RETURN_IF_ERROR(tree_.rename(source, place.destination, fs::RenameMode::kExchange));
      SYNAPSE_RETURN_IF_ERROR(tree_.remove_tree(source));
    } else {
      SYNAPSE_RETURN_IF_ERROR(tree_.rename(source, place.destination, fs::RenameMode::kNoReplace));
    }
    if (place.link.empty()) continue;
    SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(outputs));
    const std::string link = fs::join_path(outputs, place.link);
    SYNAPSE_RETURN_IF_ERROR(tree_.remove_tree(link));
    SYNAPSE_RETURN_IF_ERROR(tree_.symlink(link, relative_target(outputs, place.destination)));
  }
  return tree_.remove_tree(staged);
}

core::Status JobFiles::remove(std::string_view path) { return tree_.remove_tree(path); }

core::Result<bool> JobFiles::appears(const std::string& path) {
  const auto deadline = std::chrono::steady_clock::now() + options_.appear_timeout;
  for (;;) {
    SYNAPSE_ASSIGN_OR_RETURN(const bool exists, tree_.exists(path));
    if (exists || std::chrono::steady_clock::now() >= deadline) return exists;
    // Another node's new folder reaches this one with its record: look again once the view of
    // the folder above is old enough to be checked again.
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

// ---- A worker's attempts ----

stdfs::path JobFiles::run_dir(const AttemptRef& attempt) const {
  return options_.state_dir / "run" / sandbox_name(attempt);
}

core::Result<stdfs::path> JobFiles::image_root(const JobSpec& spec) {
  if (spec.image.kind != ImageKind::kShared) return stdfs::path();
  if (!options_.mount) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "images from the shared tree need it mounted on this node");
  }
  SYNAPSE_ASSIGN_OR_RETURN(const fs::Attr attr, tree_.stat(spec.image.path));
  const stdfs::path source = *options_.mount / spec.image.path;
  if (attr.type == fs::FileType::kDirectory) return source;  // bound read-only from the mount
  SYNAPSE_ASSIGN_OR_RETURN(const fs::ContentInfo info, tree_.content(spec.image.path));
  if (!info.content) return make_error(ErrorCode::kInvalidArgument, "the image file is empty");
  const stdfs::path images = options_.state_dir / "images";
  const stdfs::path root = images / info.content->to_string();
  std::lock_guard lock(images_mu_);
  std::error_code error;
  if (stdfs::is_directory(root, error)) return root;
  const stdfs::path unpacking = images / (info.content->to_string() + ".unpacking");
  stdfs::remove_all(unpacking, error);
  stdfs::create_directories(unpacking, error);
  if (error) return make_error(ErrorCode::kIo, "cannot create " + unpacking.string());
  // Unpacked without its owners (the root is bound read-only into a user namespace anyway).
  if (auto unpacked =
          run({options_.tar, "-xf", source.string(), "-C", unpacking.string(), "--no-same-owner"});
      !unpacked) {
    stdfs::remove_all(unpacking, error);
    return tl::unexpected(unpacked.error().with_context("unpacking " + spec.image.path));
  }
  stdfs::rename(unpacking, root, error);
  if (error) return make_error(ErrorCode::kIo, "cannot rename " + unpacking.string());
  return root;
}

core::Result<SandboxSpec> JobFiles::prepare(const AttemptRef& attempt, const JobSpec& spec,
                                            bool array) {
  const stdfs::path dir = run_dir(attempt);
  std::error_code error;
  stdfs::remove_all(dir, error);
  stdfs::create_directories(dir / "scratch", error);
  stdfs::create_directories(dir / "out", error);
  // The job's account passes through to its output folders (which it owns); only the runner
  // enters scratch.
  if (error || ::chmod(dir.c_str(), 0711) != 0 || ::chmod((dir / "out").c_str(), 0711) != 0 ||
      ::chmod((dir / "scratch").c_str(), 0700) != 0) {
    return make_error(ErrorCode::kIo, "cannot create " + dir.string());
  }
  SandboxSpec sandbox;
  sandbox.name = sandbox_name(attempt);
  sandbox.argv = spec.command;
  sandbox.workdir = spec.workdir;
  sandbox.stdout_path = dir / "stdout";
  sandbox.stderr_path = dir / "stderr";
  sandbox.scratch = dir / "scratch";
  if (!spec.inputs.empty() && !options_.mount) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "inputs need the shared folder mounted on this node");
  }
  for (const Mount& input : spec.inputs) {
    SYNAPSE_ASSIGN_OR_RETURN(const fs::Attr attr, tree_.stat(input.shared_path));
    (void)attr;
    sandbox.binds.push_back({*options_.mount / input.shared_path, input.sandbox_path, false});
  }
  const std::vector<OutputPlace> places =
      output_places(spec, attempt.key.job, attempt.key.task, array);
  for (size_t k = 0; k < places.size(); ++k) {
    const stdfs::path out = dir / "out" / std::to_string(k);
    stdfs::create_directories(out, error);
    if (error) return make_error(ErrorCode::kIo, "cannot create " + out.string());
    if (::geteuid() == 0 && (::chown(out.c_str(), options_.job_uid, options_.job_gid) != 0 ||
                             ::chmod(out.c_str(), 0700) != 0)) {
      return tl::unexpected(io_error("cannot prepare " + out.string()).error());
    }
    sandbox.binds.push_back({out, places[k].sandbox_path, true});
  }
  SYNAPSE_ASSIGN_OR_RETURN(sandbox.rootfs, image_root(spec));
  if (spec.image.kind == ImageKind::kEngine) sandbox.engine_image = spec.image.path;
  bool has_path = false, has_home = false;
  for (const auto& [name, value] : spec.env) {
    sandbox.env.emplace_back(name, value);
    has_path |= name == "PATH";
    has_home |= name == "HOME";
  }
  if (!has_path)
    sandbox.env.emplace_back("PATH",
                             "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
  if (!has_home) sandbox.env.emplace_back("HOME", "/tmp");
  sandbox.env.emplace_back("SYNAPSE_JOB", attempt.key.job);
  sandbox.env.emplace_back("SYNAPSE_ATTEMPT", std::to_string(attempt.attempt));
  if (array) sandbox.env.emplace_back("SYNAPSE_TASK_ID", std::to_string(attempt.key.task));
  std::lock_guard lock(mu_);
  shipped_[attempt] = Shipped{};
  return sandbox;
}

core::Status JobFiles::ship(const AttemptRef& attempt, bool array) {
  Shipped shipped;
  {
    std::lock_guard lock(mu_);
    shipped = shipped_[attempt];
  }
  const std::string folder = layout::task_folder(attempt.key.job, attempt.key.task, array);
  const stdfs::path dir = run_dir(attempt);
  if (!shipped.created) SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(folder));
  for (auto [file, offset] : {std::pair{layout::kStdoutFile, &shipped.out},
                              std::pair{layout::kStderrFile, &shipped.err}}) {
    const uint64_t size = local_size(dir / std::string(file));
    if (shipped.created && size <= *offset) continue;
    const size_t length = static_cast<size_t>(
        std::min<uint64_t>(size - std::min(size, *offset), options_.max_ship_bytes));
    SYNAPSE_ASSIGN_OR_RETURN(const std::string bytes,
                             read_local(dir / std::string(file), *offset, length));
    const std::string path = fs::join_path(folder, file);
    // The first ship of an attempt replaces what an earlier attempt left.
    SYNAPSE_RETURN_IF_ERROR(shipped.created ? tree_.append(path, bytes_of(bytes))
                                            : tree_.write(path, bytes_of(bytes)));
    *offset += bytes.size();
  }
  shipped.created = true;
  std::lock_guard lock(mu_);
  shipped_[attempt] = shipped;
  return core::ok();
}

core::Status JobFiles::ship_logs(const AttemptRef& attempt, bool array) {
  return ship(attempt, array);
}

core::Status JobFiles::copy_in(const stdfs::path& local, const std::string& tree_path) {
  std::error_code error;
  for (stdfs::directory_iterator it(local, error), end; !error && it != end; it.increment(error)) {
    const stdfs::directory_entry& entry = *it;
    const std::string child = fs::join_path(tree_path, entry.path().filename().string());
    const stdfs::file_status status = entry.symlink_status(error);
    if (stdfs::is_symlink(status)) {
      SYNAPSE_RETURN_IF_ERROR(
          tree_.symlink(child, stdfs::read_symlink(entry.path(), error).string()));
    } else if (stdfs::is_directory(status)) {
      SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(child));
      SYNAPSE_RETURN_IF_ERROR(copy_in(entry.path(), child));
    } else if (stdfs::is_regular_file(status)) {
      SYNAPSE_ASSIGN_OR_RETURN(auto source, env_.open_sequential(entry.path()));
      const uint32_t mode = static_cast<uint32_t>(status.permissions()) & 0777;
      SYNAPSE_RETURN_IF_ERROR(tree_.write_from(child, *source, mode));
    }
  }
  if (error)
    return make_error(ErrorCode::kIo, "reading " + local.string() + ": " + error.message());
  return core::ok();
}

core::Result<std::string> JobFiles::finish(const AttemptRef& attempt, const JobSpec& spec,
                                           bool array, bool stage) {
  const stdfs::path dir = run_dir(attempt);
  // Everything the logs hold (a ship moves at most max_ship_bytes).
  for (;;) {
    SYNAPSE_RETURN_IF_ERROR(ship(attempt, array));
    std::lock_guard lock(mu_);
    const Shipped& shipped = shipped_[attempt];
    if (shipped.out >= local_size(dir / "stdout") && shipped.err >= local_size(dir / "stderr"))
      break;
  }
  if (!stage) return std::string();
  const std::vector<OutputPlace> places =
      output_places(spec, attempt.key.job, attempt.key.task, array);
  const std::string staged =
      layout::staging_folder(attempt.key.job, attempt.key.task, attempt.attempt);
  bool any = false;
  for (size_t k = 0; k < places.size(); ++k) {
    const stdfs::path out = dir / "out" / std::to_string(k);
    std::error_code error;
    const bool empty = stdfs::is_empty(out, error) || error;
    // The default /out is committed only when the job wrote something there; declared outputs
    // always are (an empty folder says the job produced nothing).
    if (places[k].link.empty() && empty) continue;
    const std::string target = fs::join_path(staged, std::to_string(k));
    (void)tree_.remove_tree(target);  // left by an earlier try of this attempt
    SYNAPSE_RETURN_IF_ERROR(tree_.make_dirs(target));
    SYNAPSE_RETURN_IF_ERROR(copy_in(out, target));
    any = true;
  }
  if (!any) return std::string();
  // Published before the coordinator hears of them, so that it sees the staged folders. They
  // are replicated in the background like any file (not waited for: a burst of small jobs
  // would wait behind every replication check of the node).
  if (options_.publish) options_.publish();
  return staged;
}

void JobFiles::cleanup(const AttemptRef& attempt) {
  std::error_code error;
  stdfs::remove_all(run_dir(attempt), error);
  std::lock_guard lock(mu_);
  shipped_.erase(attempt);
}

}  // namespace synapse::compute
