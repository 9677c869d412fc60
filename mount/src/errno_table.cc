#include "errno_table.h"

#include <cerrno>

namespace synapse::mount {

int errno_for(core::ErrorCode code) {
  using core::ErrorCode;
  switch (code) {
    case ErrorCode::kNotFound:
      return ENOENT;
    case ErrorCode::kAlreadyExists:
      return EEXIST;
    case ErrorCode::kNotEmpty:
      return ENOTEMPTY;
    case ErrorCode::kIsDirectory:
      return EISDIR;
    case ErrorCode::kNotDirectory:
      return ENOTDIR;
    case ErrorCode::kNameTooLong:
      return ENAMETOOLONG;
    case ErrorCode::kPermissionDenied:
      return EACCES;
    case ErrorCode::kInvalidArgument:
      return EINVAL;
    case ErrorCode::kUnsupported:
      return ENOTSUP;
    case ErrorCode::kStoreFull:
      return ENOSPC;
    case ErrorCode::kFailedPrecondition:
      return EBUSY;
    case ErrorCode::kIo:
    case ErrorCode::kCorrupt:
    case ErrorCode::kInternal:
      return EIO;
  }
  return EIO;
}

int errno_for(const core::Error& error) { return errno_for(error.code()); }

}  // namespace synapse::mount
