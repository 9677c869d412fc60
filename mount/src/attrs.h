// What the kernel sees of a fs::Attr (struct stat), the ownership model and the permission check
// of the access operation. No libfuse here, so it is unit-tested on its own.
//
// Ownership (docs/mount.md): every entry is owned by the user and group that mounted (the
// daemon's). The mode bits are the FileSystem's; entries it marks read_only lose their write
// bits, so the kernel refuses writes there before they reach the FileSystem.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <ctime>

#include "synapse/fs/file_system.h"

namespace synapse::mount {

struct Owner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The caller of an operation, as the kernel reports it.
struct Caller {
  uid_t uid = 0;
  bool in_owner_group = false;  // its group or one of its supplementary groups is Owner::gid
};

// Size of st_blksize: the preferred I/O size the mount reports.
inline constexpr blksize_t kPreferredIoSize = 131072;

// S_IFREG, S_IFDIR or S_IFLNK.
mode_t type_bits(fs::FileType type);
// The permission bits the kernel sees: attr.mode & 07777, without write bits when read_only.
mode_t effective_mode(const fs::Attr& attr);
struct stat to_stat(const fs::Attr& attr, Owner owner);

timespec ns_to_timespec(int64_t ns);
int64_t timespec_to_ns(const timespec& time);

// 0 when `caller` may access the entry as `mask` (R_OK | W_OK | X_OK, or F_OK) asks, else
// EACCES. Like the kernel's check: root may read and write anything and execute what has an x
// bit (or is a directory); others get the owner, group or other bits. W_OK on a read_only
// entry fails for everyone, root included, since the write would fail.
int check_access(const fs::Attr& attr, Owner owner, Caller caller, int mask);

}  // namespace synapse::mount
