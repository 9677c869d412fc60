// Reading /proc/self/mountinfo and naming mount points, for check_mount_point() and
// clean_stale_mount() (mount_points.cc). No libfuse here.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace synapse::mount {

// One line of /proc/<pid>/mountinfo (proc(5)).
struct MountInfoEntry {
  unsigned major = 0;
  unsigned minor = 0;
  std::string mount_point;  // octal escapes (\040 ...) decoded
  std::string fs_type;      // "ext4", "fuse.synapse", ...
  std::string source;
};

// Parses mountinfo text; lines that do not parse are skipped.
std::vector<MountInfoEntry> parse_mountinfo(std::string_view text);

// "fuse", "fuseblk" or "fuse.<subtype>".
bool is_fuse_type(std::string_view fs_type);

// The form of `dir` that mountinfo uses: lexically normal, no trailing slash, the parent's
// symlinks resolved (the last component is left alone: it may be a dead mount).
std::filesystem::path mount_path_form(const std::filesystem::path& dir);

// The topmost mount at exactly `dir` (in mount_path_form) in this process's mount namespace;
// nullopt when there is none or /proc/self/mountinfo cannot be read.
std::optional<MountInfoEntry> find_mount(const std::filesystem::path& dir);

}  // namespace synapse::mount
