// Error handling across module boundaries.
//
// Every fallible call that crosses a module boundary returns Result<T> (= tl::expected<T, Error>)
// or Status (= Result<void>). Exceptions never cross a module boundary: adapters that call
// throwing libraries (Botan, msgpack, toml++) catch and convert. Programmer errors (broken
// invariants, misuse of an API) are not Errors: they abort through SYNAPSE_CHECK.
#pragma once

#include <string>
#include <string_view>
#include <tl/expected.hpp>
#include <utility>

namespace synapse::core {

enum class ErrorCode {
  kInvalidArgument,     // malformed input from a user, a file or a peer
  kNotFound,            // the named thing does not exist
  kAlreadyExists,       // refusing to overwrite
  kFailedPrecondition,  // the request is valid but the state forbids it (e.g. block is pinned)
  kCorrupt,             // stored data failed verification
  kStoreFull,           // a capacity limit would be exceeded
  kPermissionDenied,
  kIo,           // the operating system reported an I/O failure
  kUnsupported,  // valid but not implemented here (e.g. an unknown hash function)
  // File-system shapes (fs/, the mount maps them to ENOTEMPTY, EISDIR, ENOTDIR, ENAMETOOLONG).
  kNotEmpty,
  kIsDirectory,
  kNotDirectory,
  kNameTooLong,
  kInternal,  // a bug or an unexpected library failure
};

// Stable lower-case name of a code, for logs and JSON ("not-found", "store-full", ...).
std::string_view error_code_name(ErrorCode code);
// The inverse of error_code_name(); kInternal for a name it does not know.
ErrorCode error_code_from_name(std::string_view name);

// True for codes caused by what the user gave us (exit code 1 in the CLI); false for failures
// of the machine or of Synapse itself (exit code 2).
bool is_user_error(ErrorCode code);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  // One line, no trailing period, suitable for "synapse: <message>".
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>".
  Error with_context(std::string_view context) const;

 private:
  ErrorCode code_;
  std::string message_;
};

template <typename T>
using Result = tl::expected<T, Error>;
using Status = Result<void>;

inline tl::unexpected<Error> make_error(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error(code, std::move(message)));
}

// Status{} reads oddly at call sites; ok() says what it means.
inline Status ok() { return {}; }

// Aborts the process with a message naming the failed condition and its location. For
// programmer errors only; never for input that a user or a peer controls.
[[noreturn]] void check_failed(const char* condition, const char* file, int line,
                               std::string_view message);

}  // namespace synapse::core

#define SYNAPSE_CHECK(condition, message)                                                     \
  do {                                                                                        \
    if (!(condition)) ::synapse::core::check_failed(#condition, __FILE__, __LINE__, message); \
  } while (0)

#define SYNAPSE_CONCAT_INNER_(a, b) a##b
#define SYNAPSE_CONCAT_(a, b) SYNAPSE_CONCAT_INNER_(a, b)

// Evaluates a Status/Result expression and returns its error from the enclosing function.
#define SYNAPSE_RETURN_IF_ERROR(expr)                                                  \
  do {                                                                                 \
    auto&& synapse_status_ = (expr);                                                   \
    if (!synapse_status_) return ::tl::unexpected(std::move(synapse_status_).error()); \
  } while (0)

// SYNAPSE_ASSIGN_OR_RETURN(auto x, f()) declares x from f()'s value or returns f()'s error.
#define SYNAPSE_ASSIGN_OR_RETURN(lhs, expr) \
  SYNAPSE_ASSIGN_OR_RETURN_IMPL_(SYNAPSE_CONCAT_(synapse_result_, __LINE__), lhs, expr)
#define SYNAPSE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)       \
  auto tmp = (expr);                                         \
  if (!tmp) return ::tl::unexpected(std::move(tmp).error()); \
  lhs = std::move(*tmp)
