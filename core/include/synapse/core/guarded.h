// A guard for code that runs inside a callback from C (libuv, libfuse): no exception may
// unwind through C frames, so one that escapes is a bug and aborts with its message.
#pragma once

#include <exception>
#include <string>

#include "synapse/core/result.h"

namespace synapse::core {

// Runs `body`; an exception that escapes it aborts the process, naming `where`.
template <typename F>
void guarded(const char* where, F&& body) noexcept {
  try {
    body();
  } catch (const std::exception& e) {
    check_failed("no exception escapes a C callback", __FILE__, __LINE__,
                 std::string(where) + ": " + e.what());
  } catch (...) {
    check_failed("no exception escapes a C callback", __FILE__, __LINE__, where);
  }
}

}  // namespace synapse::core
