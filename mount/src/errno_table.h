// The one mapping from core::ErrorCode to the errno a FUSE reply carries (docs/mount.md).
#pragma once

#include "synapse/core/result.h"

namespace synapse::mount {

// A positive errno value for `code`; every code has one (EIO for failures of the machine or of
// Synapse itself).
int errno_for(core::ErrorCode code);
int errno_for(const core::Error& error);

}  // namespace synapse::mount
