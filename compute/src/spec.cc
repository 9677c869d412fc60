// The pure parts of job specs: names, error text, and the checks of sandbox and shared paths.
// The toml++ adapter that reads a spec is spec_toml.cc.
#include "synapse/compute/spec.h"

#include <array>
#include <cstdio>

#include "synapse/crypto/cid.h"

namespace synapse::compute {

using core::ErrorCode;
using core::make_error;

namespace {

constexpr size_t kMaxPathBytes = 4095;      // PATH_MAX less the terminating NUL
constexpr size_t kMaxComponentBytes = 255;  // NAME_MAX, as the shared tree enforces
constexpr size_t kMaxQuotedBytes = 64;      // of a value shown in an error
constexpr size_t kMaxShownKeyBytes = 128;   // of the key in SpecError::to_string
constexpr size_t kMaxShownMessageBytes = 1024;
constexpr std::string_view kNormalisedRule =
    "no empty, \".\" or \"..\" components, no trailing \"/\"";

bool is_control(char c) {
  const auto byte = static_cast<unsigned char>(c);
  return byte < 0x20 || byte == 0x7f;
}

void append_escaped_control(std::string& out, char c) {
  switch (c) {
    case '\n':
      out += "\\n";
      return;
    case '\t':
      out += "\\t";
      return;
    case '\r':
      out += "\\r";
      return;
    default: {
      std::array<char, 8> buffer{};
      std::snprintf(buffer.data(), buffer.size(), "\\u%04X", static_cast<unsigned char>(c));
      out += buffer.data();
    }
  }
}

// Where to cut `text` to at most `max` bytes without splitting a UTF-8 sequence.
size_t cut_point(std::string_view text, size_t max) {
  if (text.size() <= max) return text.size();
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return cut;
}

// The text with its control characters escaped, so that it stays on one line, and cut after
// `max` bytes with "...".
std::string one_line(std::string_view text, size_t max) {
  const size_t cut = cut_point(text, max);
  std::string out;
  out.reserve(cut + 3);
  for (char c : text.substr(0, cut)) {
    if (is_control(c)) {
      append_escaped_control(out, c);
    } else {
      out += c;
    }
  }
  if (cut < text.size()) out += "...";
  return out;
}

core::Status invalid(std::string message) {
  return make_error(ErrorCode::kInvalidArgument, std::move(message));
}

bool has_control(std::string_view text) {
  for (char c : text) {
    if (is_control(c)) return true;
  }
  return false;
}

// True when `path` is `root` or lies under it, by whole components.
bool is_within(std::string_view path, std::string_view root) {
  return path == root || (path.starts_with(root) && path.size() > root.size() &&
                          (root.ends_with('/') || path[root.size()] == '/'));
}

// Checks what every absolute path in a spec must be: absolute, normalised, printable, bounded.
core::Status check_absolute(std::string_view path, std::string_view example) {
  if (!path.starts_with('/')) {
    return invalid("expected an absolute path such as \"" + std::string(example) + "\", got " +
                   quote_for_error(path));
  }
  if (has_control(path)) {
    return invalid("expected a path without control characters, got " + quote_for_error(path));
  }
  if (path.size() > kMaxPathBytes) {
    return invalid("expected a path of at most " + std::to_string(kMaxPathBytes) + " bytes, got " +
                   std::to_string(path.size()) + " bytes");
  }
  if (path == "/") return core::ok();
  std::string_view rest = path.substr(1);
  while (true) {
    const size_t slash = rest.find('/');
    const std::string_view component = rest.substr(0, slash);
    if (component.empty() || component == "." || component == "..") {
      return invalid("expected a normalised path (" + std::string(kNormalisedRule) + "), got " +
                     quote_for_error(path));
    }
    if (component.size() > kMaxComponentBytes) {
      return invalid("expected path components of at most " + std::to_string(kMaxComponentBytes) +
                     " bytes, got one of " + std::to_string(component.size()) + " in " +
                     quote_for_error(path));
    }
    if (slash == std::string_view::npos) break;
    rest.remove_prefix(slash + 1);
  }
  return core::ok();
}

std::string_view shared_example(SharedUse use) {
  switch (use) {
    case SharedUse::kInput:
      return "/synapse/datasets/books";
    case SharedUse::kOutput:
      return "/synapse/results/wordcount";
    case SharedUse::kImage:
      return "/synapse/images/alpine.tar";
  }
  return "/synapse/datasets/books";
}

}  // namespace

std::string_view runtime_name(Runtime runtime) {
  switch (runtime) {
    case Runtime::kAuto:
      return "auto";
    case Runtime::kBubblewrap:
      return "bubblewrap";
    case Runtime::kOci:
      return "oci";
    case Runtime::kDocker:
      return "docker";
    case Runtime::kPodman:
      return "podman";
  }
  return "auto";
}

bool valid_job_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxJobNameLength || name.front() == '.') return false;
  if (name.ends_with(".toml")) return false;  // would look like a submission in the spool
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string SpecError::to_string() const {
  std::string out;
  if (line > 0) out = "line " + std::to_string(line) + ": ";
  if (!key.empty()) out += one_line(key, kMaxShownKeyBytes) + ": ";
  out += one_line(message, kMaxShownMessageBytes);
  return out;
}

std::string format_errors(const std::vector<SpecError>& errors) {
  std::string out;
  for (const SpecError& error : errors) {
    if (!out.empty()) out += '\n';
    out += error.to_string();
  }
  return out;
}

std::string quote_for_error(std::string_view text) {
  const size_t cut = cut_point(text, kMaxQuotedBytes);
  std::string out = "\"";
  for (char c : text.substr(0, cut)) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (is_control(c)) {
      append_escaped_control(out, c);
    } else {
      out += c;
    }
  }
  out += '"';
  if (cut < text.size()) out += "...";
  return out;
}

bool paths_overlap(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return true;  // the tree root
  return is_within(a, b) || is_within(b, a);
}

core::Status check_mount_point(std::string_view path) {
  SYNAPSE_RETURN_IF_ERROR(check_absolute(path, "/in"));
  if (path == "/") return invalid("\"/\" cannot be a mount point: the image provides the root");
  if (path == "/tmp") {
    return invalid(
        "\"/tmp\" cannot be a mount point: it is the sandbox's private temporary folder (a folder "
        "under it can be one)");
  }
  for (std::string_view reserved : {"/proc", "/dev", "/sys"}) {
    if (is_within(path, reserved)) {
      return invalid(quote_for_error(path) + " cannot be a mount point: the sandbox provides " +
                     std::string(reserved));
    }
  }
  return core::ok();
}

core::Status check_workdir(std::string_view path) { return check_absolute(path, "/work"); }

core::Result<std::string> parse_shared_path(std::string_view path, SharedUse use) {
  const std::string_view example = shared_example(use);
  if (!is_within(path, kSharedPrefix)) {
    return make_error(ErrorCode::kInvalidArgument, "expected a path under /synapse such as \"" +
                                                       std::string(example) + "\", got " +
                                                       quote_for_error(path));
  }
  SYNAPSE_RETURN_IF_ERROR(check_absolute(path, example));
  std::string tree = path == kSharedPrefix ? std::string() : std::string(path.substr(9));
  if (tree.empty() && use != SharedUse::kInput) {
    if (use == SharedUse::kOutput) {
      return make_error(ErrorCode::kInvalidArgument,
                        "an output cannot be the whole shared tree; name a folder such as \"" +
                            std::string(example) + "\"");
    }
    return make_error(ErrorCode::kInvalidArgument,
                      "expected a root filesystem (a tar file or a folder) under /synapse such "
                      "as \"" +
                          std::string(example) + "\", got \"/synapse\"");
  }
  if (use == SharedUse::kOutput) {
    for (std::string_view reserved : {".cid", ".peers", "jobs"}) {
      if (is_within(tree, reserved)) {
        return make_error(ErrorCode::kInvalidArgument,
                          "outputs cannot go under /synapse/" + std::string(reserved) +
                              (reserved == "jobs" ? " (the job spool)" : " (read-only)") +
                              ", got " + quote_for_error(path));
      }
    }
  } else if (is_within(tree, ".cid")) {
    if (tree == ".cid") {
      return make_error(ErrorCode::kInvalidArgument,
                        "expected \"/synapse/.cid/<cid>\" (/synapse/.cid itself lists nothing), "
                        "got \"/synapse/.cid\"");
    }
    std::string_view cid = std::string_view(tree).substr(5);
    cid = cid.substr(0, cid.find('/'));
    if (auto parsed = crypto::Cid::parse(cid); !parsed) {
      return make_error(ErrorCode::kInvalidArgument,
                        "expected a content ID after /synapse/.cid/, "
                        "got " +
                            quote_for_error(cid) + ": " + parsed.error().message());
    }
  }
  return tree;
}

}  // namespace synapse::compute
