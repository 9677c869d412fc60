#include "synapse/core/result.h"

#include <cstdio>
#include <cstdlib>

namespace synapse::core {

std::string_view error_code_name(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid-argument";
    case ErrorCode::kNotFound:
      return "not-found";
    case ErrorCode::kAlreadyExists:
      return "already-exists";
    case ErrorCode::kFailedPrecondition:
      return "failed-precondition";
    case ErrorCode::kCorrupt:
      return "corrupt";
    case ErrorCode::kStoreFull:
      return "store-full";
    case ErrorCode::kPermissionDenied:
      return "permission-denied";
    case ErrorCode::kIo:
      return "io";
    case ErrorCode::kUnsupported:
      return "unsupported";
    case ErrorCode::kNotEmpty:
      return "not-empty";
    case ErrorCode::kIsDirectory:
      return "is-directory";
    case ErrorCode::kNotDirectory:
      return "not-directory";
    case ErrorCode::kNameTooLong:
      return "name-too-long";
    case ErrorCode::kInternal:
      return "internal";
  }
  return "unknown";
}

ErrorCode error_code_from_name(std::string_view name) {
  for (ErrorCode code :
       {ErrorCode::kInvalidArgument, ErrorCode::kNotFound, ErrorCode::kAlreadyExists,
        ErrorCode::kFailedPrecondition, ErrorCode::kCorrupt, ErrorCode::kStoreFull,
        ErrorCode::kPermissionDenied, ErrorCode::kIo, ErrorCode::kUnsupported, ErrorCode::kNotEmpty,
        ErrorCode::kIsDirectory, ErrorCode::kNotDirectory, ErrorCode::kNameTooLong}) {
    if (error_code_name(code) == name) return code;
  }
  return ErrorCode::kInternal;
}

bool is_user_error(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kNotFound:
    case ErrorCode::kAlreadyExists:
    case ErrorCode::kFailedPrecondition:
    case ErrorCode::kStoreFull:
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnsupported:
    case ErrorCode::kNotEmpty:
    case ErrorCode::kIsDirectory:
    case ErrorCode::kNotDirectory:
    case ErrorCode::kNameTooLong:
      return true;
    case ErrorCode::kCorrupt:
    case ErrorCode::kIo:
    case ErrorCode::kInternal:
      return false;
  }
  return false;
}

Error Error::with_context(std::string_view context) const {
  return Error(code_, std::string(context) + ": " + message_);
}

void check_failed(const char* condition, const char* file, int line, std::string_view message) {
  std::fprintf(stderr, "synapse: internal error: check failed: %s (%s:%d): %.*s\n", condition, file,
               line, static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace synapse::core
