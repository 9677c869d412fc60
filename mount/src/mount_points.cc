// check_mount_point() and clean_stale_mount(): the checks the daemon runs before mounting.
#include "mount_points.h"

#include <dirent.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "spdlog/spdlog.h"
#include "synapse/mount/mount.h"

extern char** environ;

namespace synapse::mount {

namespace {

using core::ErrorCode;
using core::make_error;

constexpr auto kProbeTimeout = std::chrono::seconds(2);

// Decodes the \ooo escapes mountinfo uses for space, tab, newline and backslash.
std::string unescape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size()) {
      const char a = text[i + 1], b = text[i + 2], c = text[i + 3];
      if (a >= '0' && a <= '3' && b >= '0' && b <= '7' && c >= '0' && c <= '7') {
        out.push_back(static_cast<char>((a - '0') * 64 + (b - '0') * 8 + (c - '0')));
        i += 3;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

std::vector<std::string_view> split_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t pos = 0;
  while (pos < line.size()) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    if (pos >= line.size()) break;
    const size_t end = std::min(line.find(' ', pos), line.size());
    fields.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return fields;
}

std::optional<MountInfoEntry> parse_line(std::string_view line) {
  // id parent major:minor root mount-point options [optional...] - type source super-options
  const std::vector<std::string_view> fields = split_fields(line);
  if (fields.size() < 7) return std::nullopt;
  size_t separator = 6;
  while (separator < fields.size() && fields[separator] != "-") ++separator;
  if (separator + 2 >= fields.size()) return std::nullopt;
  MountInfoEntry entry;
  const std::string_view dev = fields[2];
  const size_t colon = dev.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  try {
    entry.major = static_cast<unsigned>(std::stoul(std::string(dev.substr(0, colon))));
    entry.minor = static_cast<unsigned>(std::stoul(std::string(dev.substr(colon + 1))));
  } catch (const std::exception&) {
    return std::nullopt;
  }
  entry.mount_point = unescape(fields[4]);
  entry.fs_type = unescape(fields[separator + 1]);
  entry.source = unescape(fields[separator + 2]);
  return entry;
}

bool read_mountinfo(std::string* text) {
  std::ifstream in("/proc/self/mountinfo");
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *text = buffer.str();
  return true;
}

enum class Probe { kAlive, kDead, kNoAnswer };

// statfs always reaches the FUSE server (the kernel caches no statfs), and fails at once with
// ENOTCONN when the connection is gone. It runs on a thread of its own so that a server that
// hangs cannot hang the caller; that thread is left behind, blocked, when it does.
Probe probe_fuse_mount(const std::filesystem::path& dir) {
  struct Shared {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    int error = 0;
  };
  auto shared = std::make_shared<Shared>();
  std::thread([shared, path = dir.string()] {
    struct statfs buffer {};
    const int error = ::statfs(path.c_str(), &buffer) == 0 ? 0 : errno;
    {
      std::lock_guard lock(shared->mutex);
      shared->done = true;
      shared->error = error;
    }
    shared->done_cv.notify_all();
  }).detach();
  std::unique_lock lock(shared->mutex);
  if (!shared->done_cv.wait_for(lock, kProbeTimeout, [&] { return shared->done; })) {
    return Probe::kNoAnswer;
  }
  return shared->error == ENOTCONN || shared->error == ECONNABORTED ? Probe::kDead : Probe::kAlive;
}

// Runs `fusermount3 -u -z -- dir`; true when it succeeded.
bool fusermount_detach(const std::filesystem::path& dir) {
  std::string path = dir.string();
  std::string program = "fusermount3", unmount = "-u", lazy = "-z", end = "--";
  char* argv[] = {program.data(), unmount.data(), lazy.data(), end.data(), path.data(), nullptr};
  pid_t pid = 0;
  if (::posix_spawnp(&pid, "fusermount3", nullptr, nullptr, argv, environ) != 0) return false;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::vector<MountInfoEntry> parse_mountinfo(std::string_view text) {
  std::vector<MountInfoEntry> entries;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = std::min(text.find('\n', pos), text.size());
    if (auto entry = parse_line(text.substr(pos, end - pos))) entries.push_back(*entry);
    pos = end + 1;
  }
  return entries;
}

bool is_fuse_type(std::string_view fs_type) {
  return fs_type == "fuse" || fs_type == "fuseblk" || fs_type.rfind("fuse.", 0) == 0;
}

std::filesystem::path mount_path_form(const std::filesystem::path& dir) {
  std::filesystem::path path = dir.lexically_normal();
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();
  if (path == path.root_path()) return path;
  std::error_code error;
  const std::filesystem::path parent = std::filesystem::canonical(path.parent_path(), error);
  return error ? path : parent / path.filename();
}

std::optional<MountInfoEntry> find_mount(const std::filesystem::path& dir) {
  std::string text;
  if (!read_mountinfo(&text)) return std::nullopt;
  const std::string wanted = mount_path_form(dir).string();
  std::optional<MountInfoEntry> found;
  for (MountInfoEntry& entry : parse_mountinfo(text)) {
    if (entry.mount_point == wanted) found = std::move(entry);  // the last one is on top
  }
  return found;
}

core::Status check_mount_point(const std::filesystem::path& dir) {
  if (!dir.is_absolute()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "mount point must be an absolute path: " + dir.string());
  }
  const std::filesystem::path path = mount_path_form(dir);
  const std::string name = path.string();
  if (auto entry = find_mount(path)) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "mount point " + name + " is already mounted (" + entry->fs_type + ")");
  }
  struct stat st {};
  if (::stat(name.c_str(), &st) != 0) {
    const int error = errno;
    switch (error) {
      case ENOENT:
        return make_error(ErrorCode::kNotFound, "mount point " + name + " does not exist");
      case ENOTDIR:
        return make_error(ErrorCode::kNotDirectory, "mount point " + name + " is not a directory");
      case ENOTCONN:
      case ECONNABORTED:
        return make_error(ErrorCode::kFailedPrecondition,
                          "mount point " + name + " is already mounted (a dead FUSE mount)");
      case EACCES:
        return make_error(ErrorCode::kPermissionDenied,
                          "mount point " + name + ": " + std::strerror(error));
      default:
        return make_error(ErrorCode::kIo, "mount point " + name + ": " + std::strerror(error));
    }
  }
  if (!S_ISDIR(st.st_mode)) {
    return make_error(ErrorCode::kNotDirectory, "mount point " + name + " is not a directory");
  }
  struct stat parent {};
  if (path == path.root_path() ||
      (::stat(path.parent_path().c_str(), &parent) == 0 && parent.st_dev != st.st_dev)) {
    return make_error(ErrorCode::kFailedPrecondition,
                      "mount point " + name + " is already mounted");
  }
  DIR* listing = ::opendir(name.c_str());
  if (listing == nullptr) {
    const int error = errno;
    return make_error(error == EACCES ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
                      "mount point " + name + ": " + std::strerror(error));
  }
  bool empty = true;
  errno = 0;
  while (const dirent* entry = ::readdir(listing)) {
    if (std::strcmp(entry->d_name, ".") != 0 && std::strcmp(entry->d_name, "..") != 0) {
      empty = false;
      break;
    }
  }
  ::closedir(listing);
  if (!empty) {
    return make_error(ErrorCode::kFailedPrecondition, "mount point " + name + " is not empty");
  }
  return core::ok();
}

core::Status clean_stale_mount(const std::filesystem::path& dir) {
  if (!dir.is_absolute()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "mount point must be an absolute path: " + dir.string());
  }
  const std::filesystem::path path = mount_path_form(dir);
  const std::optional<MountInfoEntry> entry = find_mount(path);
  if (!entry || !is_fuse_type(entry->fs_type)) return core::ok();
  Probe probe;
  try {
    probe = probe_fuse_mount(path);
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, std::string("probing the mount: ") + e.what());
  }
  if (probe == Probe::kAlive) {
    spdlog::debug("mount: {} is a FUSE mount ({}) with a live server; left alone", path.string(),
                  entry->fs_type);
    return core::ok();
  }
  if (probe == Probe::kNoAnswer) {
    spdlog::warn("mount: {} is a FUSE mount ({}) whose server does not answer; left alone",
                 path.string(), entry->fs_type);
    return core::ok();
  }
  if (::umount2(path.c_str(), MNT_DETACH) == 0) {
    spdlog::warn("mount: {} was a dead FUSE mount ({}, its server is gone); detached it",
                 path.string(), entry->fs_type);
    return core::ok();
  }
  const int error = errno;
  if (error == EINVAL) return core::ok();  // no longer a mount point: someone detached it
  if (fusermount_detach(path)) {
    spdlog::warn("mount: {} was a dead FUSE mount ({}); detached it with fusermount3 -u -z",
                 path.string(), entry->fs_type);
    return core::ok();
  }
  return make_error(
      error == EPERM || error == EACCES ? ErrorCode::kPermissionDenied : ErrorCode::kIo,
      "could not detach the dead FUSE mount at " + path.string() + " (" + std::strerror(error) +
          "); run 'fusermount3 -u -z " + path.string() + "'");
}

}  // namespace synapse::mount
