#include "errno_table.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace synapse::mount {
namespace {

using core::ErrorCode;

TEST(ErrnoTable, EveryCodeMapsToItsErrno) {
  const std::pair<ErrorCode, int> table[] = {
      {ErrorCode::kNotFound, ENOENT},
      {ErrorCode::kAlreadyExists, EEXIST},
      {ErrorCode::kNotEmpty, ENOTEMPTY},
      {ErrorCode::kIsDirectory, EISDIR},
      {ErrorCode::kNotDirectory, ENOTDIR},
      {ErrorCode::kNameTooLong, ENAMETOOLONG},
      {ErrorCode::kPermissionDenied, EACCES},
      {ErrorCode::kInvalidArgument, EINVAL},
      {ErrorCode::kUnsupported, ENOTSUP},
      {ErrorCode::kStoreFull, ENOSPC},
      {ErrorCode::kIo, EIO},
      {ErrorCode::kCorrupt, EIO},
      {ErrorCode::kInternal, EIO},
      {ErrorCode::kFailedPrecondition, EBUSY},
  };
  for (const auto& [code, err] : table) {
    EXPECT_EQ(errno_for(code), err) << core::error_code_name(code);
    EXPECT_EQ(errno_for(core::Error(code, "message")), err) << core::error_code_name(code);
  }
}

TEST(ErrnoTable, EveryCodeGivesAPositiveErrno) {
  for (int code = 0; code <= static_cast<int>(ErrorCode::kInternal); ++code) {
    EXPECT_GT(errno_for(static_cast<ErrorCode>(code)), 0) << code;
  }
}

}  // namespace
}  // namespace synapse::mount
