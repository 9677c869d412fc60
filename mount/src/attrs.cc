#include "attrs.h"

#include <unistd.h>

namespace synapse::mount {

namespace {
constexpr int64_t kNsPerSecond = 1'000'000'000;
}  // namespace

mode_t type_bits(fs::FileType type) {
  switch (type) {
    case fs::FileType::kRegular:
      return S_IFREG;
    case fs::FileType::kDirectory:
      return S_IFDIR;
    case fs::FileType::kSymlink:
      return S_IFLNK;
  }
  return S_IFREG;
}

mode_t effective_mode(const fs::Attr& attr) {
  mode_t mode = attr.mode & 07777;
  if (attr.read_only) mode &= ~mode_t{0222};
  return mode;
}

struct stat to_stat(const fs::Attr& attr, Owner owner) {
  struct stat st {};
  st.st_ino = attr.ino;
  st.st_mode = type_bits(attr.type) | effective_mode(attr);
  st.st_nlink = attr.nlink;
  st.st_uid = owner.uid;
  st.st_gid = owner.gid;
  st.st_size = static_cast<off_t>(attr.size);
  st.st_blocks = static_cast<blkcnt_t>((attr.size + 511) / 512);
  st.st_blksize = kPreferredIoSize;
  st.st_mtim = ns_to_timespec(attr.mtime_ns);
  st.st_atim = st.st_mtim;
  st.st_ctim = ns_to_timespec(attr.ctime_ns);
  return st;
}

timespec ns_to_timespec(int64_t ns) {
  int64_t seconds = ns / kNsPerSecond;
  int64_t rest = ns % kNsPerSecond;
  if (rest < 0) {  // floor, so that tv_nsec stays in [0, 1e9)
    rest += kNsPerSecond;
    --seconds;
  }
  timespec time{};
  time.tv_sec = static_cast<time_t>(seconds);
  time.tv_nsec = static_cast<long>(rest);
  return time;
}

int64_t timespec_to_ns(const timespec& time) {
  return static_cast<int64_t>(time.tv_sec) * kNsPerSecond + time.tv_nsec;
}

int check_access(const fs::Attr& attr, Owner owner, Caller caller, int mask) {
  mask &= R_OK | W_OK | X_OK;
  if (mask == 0) return 0;  // F_OK: the entry exists
  if ((mask & W_OK) != 0 && attr.read_only) return EACCES;
  const mode_t mode = effective_mode(attr);
  if (caller.uid == 0) {
    if ((mask & X_OK) == 0) return 0;
    return attr.type == fs::FileType::kDirectory || (mode & 0111) != 0 ? 0 : EACCES;
  }
  mode_t granted;
  if (caller.uid == owner.uid) {
    granted = (mode >> 6) & 7;
  } else if (caller.in_owner_group) {
    granted = (mode >> 3) & 7;
  } else {
    granted = mode & 7;
  }
  return (granted & static_cast<mode_t>(mask)) == static_cast<mode_t>(mask) ? 0 : EACCES;
}

}  // namespace synapse::mount
