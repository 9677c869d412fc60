// The only file of compute/ that calls toml++; its exceptions end here. Reads a job spec into a
// JobSpec, collecting every error (docs/job-spec.md); the value checks it shares with other
// front ends are in spec.cc.
#include <toml++/toml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <exception>
#include <set>
#include <span>
#include <tuple>

#include "synapse/compute/spec.h"
#include "synapse/core/units.h"

namespace synapse::compute {

namespace {

constexpr std::array<std::string_view, 11> kTopKeys = {"name",   "command",   "image",    "runtime",
                                                       "inputs", "outputs",   "env",      "workdir",
                                                       "array",  "resources", "placement"};
constexpr std::array<std::string_view, 7> kResourceKeys = {"cpus",    "memory",  "gpus", "timeout",
                                                           "network", "retries", "pids"};
constexpr std::array<std::string_view, 2> kPlacementKeys = {"labels", "nodes"};

constexpr uint64_t kMinMemory = uint64_t{4} << 20;
constexpr double kMinCpus = 0.01;  // the smallest CFS quota (1 ms) of the default 100 ms period
constexpr double kMaxCpus = 1024;
constexpr int64_t kMaxGpus = 64;
constexpr int64_t kMaxTimeoutSeconds = int64_t{30} * 24 * 3600;
constexpr int64_t kMaxRetries = 100;
constexpr int64_t kMinPids = 16;
constexpr int64_t kMaxPids = 1'000'000;
constexpr size_t kMaxEngineRef = 255;
constexpr size_t kMaxNodeEntry = 255;
constexpr std::string_view kEnginePrefix = "docker://";
constexpr std::string_view kJobNameRule =
    "1 to 64 letters, digits, '.', '_' or '-', not starting with '.' nor ending in \".toml\"";
constexpr std::string_view kImageForms =
    "expected \"host\", a root filesystem under /synapse or \"docker://REF\"";

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (std::string_view word : words) {
    if (!out.empty()) out += ", ";
    out += word;
  }
  return out;
}

bool contains(std::span<const std::string_view> words, std::string_view word) {
  return std::find(words.begin(), words.end(), word) != words.end();
}

// Levenshtein distance, for "did you mean" hints on short keys.
size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The known key the user most likely meant: one that starts with `key` ("mem" for "memory"),
// else the nearest within two edits.
std::string_view closest(std::string_view key, std::span<const std::string_view> known) {
  if (key.size() > 32) return {};
  if (key.size() >= 3) {
    for (std::string_view candidate : known) {
      if (candidate.starts_with(key)) return candidate;
    }
  }
  std::string_view best;
  size_t best_distance = 3;  // at most 2 edits, and fewer than the key's length
  for (std::string_view candidate : known) {
    const size_t distance = edit_distance(key, candidate);
    if (distance < best_distance && distance < key.size()) {
      best = candidate;
      best_distance = distance;
    }
  }
  return best;
}

std::string format_double(double value) {
  std::array<char, 64> buffer{};
  auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  if (ec != std::errc()) return "a number";
  std::string text(buffer.data(), end);
  if (text.find_first_of(".ein") == std::string::npos) text += ".0";
  return text;
}

// What was found, for "expected X, got Y".
std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string:
      return quote_for_error(node.as_string()->get());
    case toml::node_type::integer:
      return std::to_string(node.as_integer()->get());
    case toml::node_type::floating_point:
      return format_double(node.as_floating_point()->get());
    case toml::node_type::boolean:
      return node.as_boolean()->get() ? "true" : "false";
    case toml::node_type::array:
      return node.as_array()->empty() ? "an empty array" : "an array";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    case toml::node_type::none:
      break;
  }
  return "nothing";
}

// A key as errors show it: `""` for the empty key, so that it cannot vanish from the message.
std::string key_text(std::string_view prefix, std::string_view key) {
  std::string name = key.empty() ? std::string("\"\"") : std::string(key);
  return prefix.empty() ? name : std::string(prefix) + "." + name;
}

std::string indexed(std::string_view key, size_t index) {
  return std::string(key) + "[" + std::to_string(index) + "]";
}

bool valid_env_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

bool valid_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabelLength) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

// An engine reference as Docker and Podman accept it: registry, path, tag and digest
// characters, starting with a letter or digit (so that it can never pass as an option).
bool valid_engine_ref(std::string_view ref) {
  if (ref.empty() || ref.size() > kMaxEngineRef) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(ref.front())) return false;
  return std::all_of(ref.begin(), ref.end(), [&](char c) {
    return alnum(c) || c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
  });
}

bool valid_node_entry(std::string_view entry) {
  if (entry.empty() || entry.size() > kMaxNodeEntry) return false;
  return std::none_of(entry.begin(), entry.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; });
}

bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

bool is_blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  });
}

struct Issue {
  int line = 0;
  int column = 0;
  size_t order = 0;
  SpecError error;
};

// Where a mount came from, for the checks across mounts.
struct MountSite {
  std::string key;  // "inputs./in"
  std::string sandbox_path;
  int key_line = 0;
  int key_column = 0;
  bool sandbox_ok = false;
  bool output = false;
  std::string shared_path;  // tree path
  int value_line = 0;
  int value_column = 0;
  bool shared_ok = false;
};

class SpecParser {
 public:
  explicit SpecParser(std::string_view default_name) : default_name_(default_name) {}

  void parse(const toml::table& root) {
    for (auto&& [key, node] : root) {
      const std::string_view name = key.str();
      if (name == "name") {
        parse_name(node);
      } else if (name == "command") {
        parse_command(node);
      } else if (name == "image") {
        parse_image(node);
      } else if (name == "runtime") {
        parse_runtime(node);
      } else if (name == "inputs") {
        parse_mounts(node, "inputs", false);
      } else if (name == "outputs") {
        parse_mounts(node, "outputs", true);
      } else if (name == "env") {
        parse_env(node);
      } else if (name == "workdir") {
        parse_workdir(node);
      } else if (name == "array") {
        if (auto count = whole_number(node, "array", 1, kMaxArrayTasks)) {
          spec_.array = static_cast<uint32_t>(*count);
        }
      } else if (name == "resources") {
        parse_resources(node);
      } else if (name == "placement") {
        parse_placement(node);
      } else {
        unknown_top_key(key);
      }
    }
    if (!has_name_) {
      if (valid_job_name(default_name_)) {
        spec_.name = std::string(default_name_);
      } else {
        add(0, 0, "name",
            "the file name " + quote_for_error(default_name_) + " is not a valid job name (" +
                std::string(kJobNameRule) + "); set name = \"...\" in the spec");
      }
    }
    if (!has_command_) {
      add(0, 0, "command",
          "required: the program and its arguments, such as [\"python3\", \"train.py\"], or a "
          "shell command line");
    }
    check_mount_overlaps();
    check_runtime_and_image();
  }

  void add(int line, int column, std::string key, std::string message) {
    Issue issue;
    issue.line = line;
    issue.column = column;
    issue.order = issues_.size();
    issue.error = SpecError{line, std::move(key), std::move(message)};
    issues_.push_back(std::move(issue));
  }

  tl::expected<JobSpec, std::vector<SpecError>> finish() && {
    if (issues_.empty()) return std::move(spec_);
    std::sort(issues_.begin(), issues_.end(), [](const Issue& a, const Issue& b) {
      return std::tie(a.line, a.column, a.order) < std::tie(b.line, b.column, b.order);
    });
    std::vector<SpecError> errors;
    errors.reserve(issues_.size());
    for (Issue& issue : issues_) errors.push_back(std::move(issue.error));
    return tl::unexpected(std::move(errors));
  }

 private:
  static int line_of(const toml::source_region& region) {
    return static_cast<int>(region.begin.line);
  }
  static int column_of(const toml::source_region& region) {
    return static_cast<int>(region.begin.column);
  }

  void error(const toml::source_region& where, std::string key, std::string message) {
    add(line_of(where), column_of(where), std::move(key), std::move(message));
  }
  void error(const toml::node& node, std::string key, std::string message) {
    error(node.source(), std::move(key), std::move(message));
  }

  // The table under `key`, or nullptr after reporting what was found instead.
  const toml::table* table_of(const toml::node& node, std::string_view key,
                              std::string_view expected) {
    const toml::table* table = node.as_table();
    if (table == nullptr) {
      error(node, std::string(key), std::string(expected) + ", got " + describe(node));
    }
    return table;
  }

  // A TOML string, or nullopt after reporting what was found instead.
  std::optional<std::string> string_of(const toml::node& node, std::string_view key,
                                       std::string_view expected) {
    std::optional<std::string> text = node.value_exact<std::string>();
    if (!text) error(node, std::string(key), std::string(expected) + ", got " + describe(node));
    return text;
  }

  std::optional<int64_t> whole_number(const toml::node& node, std::string_view key, int64_t low,
                                      int64_t high) {
    std::optional<int64_t> value = node.value_exact<int64_t>();
    if (!value || *value < low || *value > high) {
      error(node, std::string(key),
            "expected a whole number " + std::to_string(low) + ".." + std::to_string(high) +
                ", got " + describe(node));
      return std::nullopt;
    }
    return value;
  }

  void unknown_top_key(const toml::key& key) {
    const std::string_view name = key.str();
    std::string message = "unknown key";
    if (contains(kResourceKeys, name)) {
      message += " (did you mean resources." + std::string(name) + "? put it under [resources])";
    } else if (contains(kPlacementKeys, name)) {
      message += " (did you mean placement." + std::string(name) + "? put it under [placement])";
    } else if (std::string_view hint = closest(name, kTopKeys); !hint.empty()) {
      message += " (did you mean \"" + std::string(hint) + "\"?)";
    } else {
      message += " (expected one of " + join(kTopKeys) + ")";
    }
    error(key.source(), key_text("", name), std::move(message));
  }

  void unknown_section_key(const toml::key& key, std::string_view section,
                           std::span<const std::string_view> known) {
    const std::string_view name = key.str();
    std::string message = "unknown key";
    if (contains(kTopKeys, name)) {
      message += " (\"" + std::string(name) + "\" is a top-level key: move it above [" +
                 std::string(section) + "], since every key after a [table] header belongs to it)";
    } else if (section != "resources" && contains(kResourceKeys, name)) {
      message += " (did you mean resources." + std::string(name) + "?)";
    } else if (section != "placement" && contains(kPlacementKeys, name)) {
      message += " (did you mean placement." + std::string(name) + "?)";
    } else if (std::string_view hint = closest(name, known); !hint.empty()) {
      message += " (did you mean \"" + std::string(hint) + "\"?)";
    } else {
      message += " (expected one of " + join(known) + ")";
    }
    error(key.source(), key_text(section, name), std::move(message));
  }

  void parse_name(const toml::node& node) {
    has_name_ = true;
    std::optional<std::string> name = node.value_exact<std::string>();
    if (!name || !valid_job_name(*name)) {
      error(node, "name",
            "expected a job name (" + std::string(kJobNameRule) + "), got " + describe(node));
      return;
    }
    spec_.name = *name;
  }

  void parse_command(const toml::node& node) {
    has_command_ = true;
    if (std::optional<std::string> line = node.value_exact<std::string>()) {
      if (line->empty() || is_blank(*line)) {
        error(node, "command",
              "expected a shell command line, got " +
                  std::string(line->empty() ? "an empty string" : "a blank string"));
      } else if (has_nul(*line)) {
        error(node, "command", "expected a command line without NUL characters");
      } else {
        spec_.command = {"sh", "-c", *line};
      }
      return;
    }
    const toml::array* args = node.as_array();
    if (args == nullptr) {
      error(node, "command",
            "expected an array of strings (the program and its arguments, such as [\"python3\", "
            "\"train.py\"]) or a string (run with sh -c), got " +
                describe(node));
      return;
    }
    if (args->empty()) {
      error(node, "command", "expected the program and its arguments, got an empty array");
      return;
    }
    if (args->size() > kMaxCommandArgs) {
      error(node, "command",
            "expected at most " + std::to_string(kMaxCommandArgs) + " arguments, got " +
                std::to_string(args->size()));
      return;
    }
    std::vector<std::string> argv;
    bool ok = true;
    for (size_t i = 0; i < args->size(); ++i) {
      const toml::node& arg = (*args)[i];
      std::optional<std::string> text = string_of(arg, indexed("command", i), "expected a string");
      if (!text) {
        ok = false;
      } else if (has_nul(*text)) {
        error(arg, indexed("command", i), "expected an argument without NUL characters");
        ok = false;
      } else if (i == 0 && text->empty()) {
        error(arg, indexed("command", i), "expected a program name, got an empty string");
        ok = false;
      } else {
        argv.push_back(std::move(*text));
      }
    }
    if (ok) spec_.command = std::move(argv);
  }

  void parse_image(const toml::node& node) {
    image_given_ = true;
    image_ok_ = false;
    spec_.image.line = line_of(node.source());
    std::optional<std::string> text = string_of(node, "image", kImageForms);
    if (!text) return;
    if (*text == "host") {
      spec_.image.kind = ImageKind::kHost;
    } else if (text->starts_with(kEnginePrefix)) {
      const std::string_view ref = std::string_view(*text).substr(kEnginePrefix.size());
      if (ref.empty()) {
        error(node, "image",
              "expected an image reference after \"docker://\", such as "
              "\"docker://python:3.12\", got \"docker://\"");
        return;
      }
      if (!valid_engine_ref(ref)) {
        error(node, "image",
              "expected an image reference of at most " + std::to_string(kMaxEngineRef) +
                  " letters, digits and . _ - / : @, starting with a letter or digit, such as "
                  "\"docker://python:3.12\", got " +
                  describe(node));
        return;
      }
      spec_.image.kind = ImageKind::kEngine;
      spec_.image.path = std::string(ref);
    } else if (text->starts_with('/')) {
      auto tree = parse_shared_path(*text, SharedUse::kImage);
      if (!tree) {
        error(node, "image", tree.error().message());
        return;
      }
      spec_.image.kind = ImageKind::kShared;
      spec_.image.path = std::move(*tree);
    } else {
      std::string message = std::string(kImageForms) + ", got " + describe(node);
      if (!text->empty() && text->find("://") == std::string::npos && valid_engine_ref(*text)) {
        message += " (for an engine image write \"docker://" + *text + "\")";
      }
      error(node, "image", std::move(message));
      return;
    }
    image_ok_ = true;
  }

  void parse_runtime(const toml::node& node) {
    runtime_line_ = line_of(node.source());
    runtime_column_ = column_of(node.source());
    static constexpr std::array<Runtime, 5> kRuntimes = {
        Runtime::kAuto, Runtime::kBubblewrap, Runtime::kOci, Runtime::kDocker, Runtime::kPodman};
    if (std::optional<std::string> text = node.value_exact<std::string>()) {
      for (Runtime runtime : kRuntimes) {
        if (*text == runtime_name(runtime)) {
          spec_.runtime = runtime;
          runtime_ok_ = true;
          return;
        }
      }
    }
    error(node, "runtime",
          "expected one of auto, bubblewrap, oci, docker, podman, got " + describe(node));
  }

  void parse_mounts(const toml::node& node, std::string_view section, bool output) {
    const SharedUse use = output ? SharedUse::kOutput : SharedUse::kInput;
    const std::string example = output ? "{ \"/out\" = \"/synapse/results/wordcount\" }"
                                       : "{ \"/in\" = \"/synapse/datasets/books\" }";
    const std::string expected_path = output ? "expected a path under /synapse such as "
                                               "\"/synapse/results/wordcount\""
                                             : "expected a path under /synapse such as "
                                               "\"/synapse/datasets/books\"";
    const toml::table* table = table_of(
        node, section, "expected a table of sandbox path = shared path, such as " + example);
    if (table == nullptr) return;
    if (table->size() > kMaxMounts) {
      error(node, std::string(section),
            "expected at most " + std::to_string(kMaxMounts) + " mounts, got " +
                std::to_string(table->size()));
      return;
    }
    std::vector<Mount>& mounts = output ? spec_.outputs : spec_.inputs;
    for (auto&& [key, value] : *table) {
      MountSite site;
      site.key = key_text(section, key.str());
      site.sandbox_path = std::string(key.str());
      site.key_line = line_of(key.source());
      site.key_column = column_of(key.source());
      site.value_line = line_of(value.source());
      site.value_column = column_of(value.source());
      site.output = output;
      if (auto status = check_mount_point(key.str()); !status) {
        error(key.source(), site.key, status.error().message());
      } else {
        site.sandbox_ok = true;
      }
      if (std::optional<std::string> text = string_of(value, site.key, expected_path)) {
        if (auto tree = parse_shared_path(*text, use); !tree) {
          error(value, site.key, tree.error().message());
        } else {
          site.shared_path = std::move(*tree);
          site.shared_ok = true;
        }
      }
      if (site.sandbox_ok && site.shared_ok) {
        mounts.push_back(Mount{site.sandbox_path, site.shared_path, site.key_line});
      }
      sites_.push_back(std::move(site));
    }
  }

  // The same sandbox path twice or nested mounts (inputs and outputs together), and outputs
  // whose targets overlap; each reported once, on the later of the two.
  void check_mount_overlaps() {
    std::vector<const MountSite*> by_key;
    std::vector<const MountSite*> by_value;
    for (const MountSite& site : sites_) {
      if (site.sandbox_ok) by_key.push_back(&site);
      if (site.output && site.shared_ok) by_value.push_back(&site);
    }
    std::sort(by_key.begin(), by_key.end(), [](const MountSite* a, const MountSite* b) {
      return std::tie(a->key_line, a->key_column) < std::tie(b->key_line, b->key_column);
    });
    for (size_t j = 0; j < by_key.size(); ++j) {
      const MountSite& later = *by_key[j];
      for (size_t i = 0; i < j; ++i) {
        const MountSite& earlier = *by_key[i];
        if (!paths_overlap(later.sandbox_path, earlier.sandbox_path)) continue;
        const std::string other = earlier.key + " (line " + std::to_string(earlier.key_line) + ")";
        std::string message;
        if (later.sandbox_path == earlier.sandbox_path) {
          message = quote_for_error(later.sandbox_path) + " is already mounted by " + other;
        } else if (later.sandbox_path.size() > earlier.sandbox_path.size()) {
          message = "mounts may not be nested: " + quote_for_error(later.sandbox_path) +
                    " is inside " + other;
        } else {
          message = "mounts may not be nested: " + quote_for_error(later.sandbox_path) +
                    " contains " + other;
        }
        add(later.key_line, later.key_column, later.key, std::move(message));
        break;
      }
    }
    std::sort(by_value.begin(), by_value.end(), [](const MountSite* a, const MountSite* b) {
      return std::tie(a->value_line, a->value_column) < std::tie(b->value_line, b->value_column);
    });
    for (size_t j = 0; j < by_value.size(); ++j) {
      const MountSite& later = *by_value[j];
      for (size_t i = 0; i < j; ++i) {
        const MountSite& earlier = *by_value[i];
        if (!paths_overlap(later.shared_path, earlier.shared_path)) continue;
        const std::string shown =
            quote_for_error(std::string(kSharedPrefix) + "/" + later.shared_path);
        const std::string other =
            earlier.key + " (line " + std::to_string(earlier.value_line) + ")";
        std::string message;
        if (later.shared_path == earlier.shared_path) {
          message = shown + " is already the target of " + other;
        } else if (later.shared_path.size() > earlier.shared_path.size()) {
          message = "outputs may not overlap: " + shown + " is inside the target of " + other;
        } else {
          message = "outputs may not overlap: " + shown + " contains the target of " + other;
        }
        add(later.value_line, later.value_column, later.key, std::move(message));
        break;
      }
    }
  }

  void check_runtime_and_image() {
    if (!runtime_ok_ || (image_given_ && !image_ok_)) return;
    const bool engine_image = spec_.image.kind == ImageKind::kEngine;
    const std::string runtime = "runtime \"" + std::string(runtime_name(spec_.runtime)) + "\"";
    if ((spec_.runtime == Runtime::kDocker || spec_.runtime == Runtime::kPodman) && !engine_image) {
      std::string image = spec_.image.kind == ImageKind::kHost
                              ? std::string(image_given_ ? "\"host\"" : "\"host\" (the default)")
                              : quote_for_error("/synapse/" + spec_.image.path);
      add(runtime_line_, runtime_column_, "runtime",
          runtime + " needs a docker:// image, but image is " + image);
    } else if ((spec_.runtime == Runtime::kBubblewrap || spec_.runtime == Runtime::kOci) &&
               engine_image) {
      add(runtime_line_, runtime_column_, "runtime",
          runtime + " cannot run docker:// images; use \"auto\", \"docker\" or \"podman\"");
    }
  }

  void parse_env(const toml::node& node) {
    const toml::table* table = table_of(
        node, "env", "expected a table of NAME = \"value\", such as { LANG = \"C.UTF-8\" }");
    if (table == nullptr) return;
    if (table->size() > kMaxEnv) {
      error(node, "env",
            "expected at most " + std::to_string(kMaxEnv) + " variables, got " +
                std::to_string(table->size()));
      return;
    }
    for (auto&& [key, value] : *table) {
      const std::string_view name = key.str();
      const std::string shown = key_text("env", name);
      if (!valid_env_name(name)) {
        error(key.source(), shown,
              "expected a variable name of letters, digits and '_', not starting with a digit");
        continue;
      }
      if (name.starts_with("SYNAPSE_")) {
        error(key.source(), shown,
              "names starting with SYNAPSE_ are reserved for the variables Synapse sets");
        continue;
      }
      std::optional<std::string> text = value.value_exact<std::string>();
      if (!text) {
        std::string message = "expected a string, got " + describe(value);
        if (value.is_number() || value.is_boolean()) {
          message += " (write it in quotes: \"" + describe(value) + "\")";
        }
        error(value, shown, std::move(message));
        continue;
      }
      if (has_nul(*text)) {
        error(value, shown, "expected a value without NUL characters");
        continue;
      }
      spec_.env.emplace_back(std::string(name), std::move(*text));
    }
    std::sort(spec_.env.begin(), spec_.env.end());
  }

  void parse_workdir(const toml::node& node) {
    std::optional<std::string> text =
        string_of(node, "workdir", "expected an absolute path such as \"/work\"");
    if (!text) return;
    if (auto status = check_workdir(*text); !status) {
      error(node, "workdir", status.error().message());
      return;
    }
    spec_.workdir = std::move(*text);
  }

  void parse_resources(const toml::node& node) {
    const toml::table* table =
        table_of(node, "resources", "expected a table ([resources] or { cpus = 2 })");
    if (table == nullptr) return;
    Resources& resources = spec_.resources;
    for (auto&& [key, value] : *table) {
      const std::string_view name = key.str();
      const std::string shown = key_text("resources", name);
      if (name == "cpus") {
        parse_cpus(value, shown);
      } else if (name == "memory") {
        parse_memory(value, shown);
      } else if (name == "gpus") {
        if (auto count = whole_number(value, shown, 0, kMaxGpus)) {
          resources.gpus = static_cast<uint32_t>(*count);
        }
      } else if (name == "timeout") {
        parse_timeout(value, shown);
      } else if (name == "network") {
        if (!value.is_boolean()) {
          error(value, shown, "expected true or false, got " + describe(value));
        } else {
          resources.network = value.as_boolean()->get();
        }
      } else if (name == "retries") {
        if (auto count = whole_number(value, shown, 0, kMaxRetries)) {
          resources.retries = static_cast<uint32_t>(*count);
        }
      } else if (name == "pids") {
        if (auto count = whole_number(value, shown, kMinPids, kMaxPids)) {
          resources.pids = static_cast<uint32_t>(*count);
        }
      } else {
        unknown_section_key(key, "resources", kResourceKeys);
      }
    }
  }

  void parse_cpus(const toml::node& node, const std::string& key) {
    std::optional<double> cpus;
    if (std::optional<int64_t> whole = node.value_exact<int64_t>()) {
      cpus = static_cast<double>(*whole);
    } else if (std::optional<double> fraction = node.value_exact<double>()) {
      cpus = *fraction;
    }
    if (!cpus) {
      error(node, key, "expected a number of CPUs such as 2 or 0.5, got " + describe(node));
    } else if (!(*cpus >= kMinCpus && *cpus <= kMaxCpus)) {  // NaN fails too
      error(node, key, "expected a number of CPUs from 0.01 to 1024, got " + describe(node));
    } else {
      spec_.resources.cpus = *cpus;
    }
  }

  void parse_memory(const toml::node& node, const std::string& key) {
    std::optional<uint64_t> bytes;
    if (std::optional<int64_t> whole = node.value_exact<int64_t>()) {
      if (*whole >= 0) bytes = static_cast<uint64_t>(*whole);
    } else if (std::optional<std::string> text = node.value_exact<std::string>()) {
      if (auto size = core::parse_size(*text)) bytes = *size;
    }
    if (!bytes) {
      error(node, key, "expected a size such as \"512M\", got " + describe(node));
    } else if (*bytes < kMinMemory) {
      error(node, key, "expected at least 4 MiB, got " + describe(node));
    } else {
      spec_.resources.memory = *bytes;
    }
  }

  void parse_timeout(const toml::node& node, const std::string& key) {
    std::optional<int64_t> ms;
    bool parsed = false;
    if (std::optional<int64_t> seconds = node.value_exact<int64_t>()) {
      parsed = true;
      if (*seconds > 0 && *seconds <= kMaxTimeoutSeconds) ms = *seconds * 1000;
    } else if (std::optional<std::string> text = node.value_exact<std::string>()) {
      if (auto duration = core::parse_duration(*text)) {
        parsed = true;
        if (duration->count() > 0 && duration->count() <= kMaxTimeoutSeconds * 1000) {
          ms = duration->count();
        }
      }
    }
    if (!parsed) {
      error(node, key,
            "expected a duration such as \"10m\" or a number of seconds, got " + describe(node));
    } else if (!ms) {
      error(node, key, "expected more than 0 and at most 30 days, got " + describe(node));
    } else {
      spec_.resources.timeout =
          std::chrono::duration_cast<core::Duration>(std::chrono::milliseconds(*ms));
    }
  }

  void parse_placement(const toml::node& node) {
    const toml::table* table =
        table_of(node, "placement", "expected a table ([placement] or { labels = [\"ssd\"] })");
    if (table == nullptr) return;
    for (auto&& [key, value] : *table) {
      const std::string_view name = key.str();
      const std::string shown = key_text("placement", name);
      if (name == "labels") {
        spec_.placement.labels = string_list(
            value, shown, kMaxLabels, "labels", "such as [\"ssd\", \"gpu:a100\"]",
            "expected a label of 1 to 32 letters, digits, '.', '_', ':' or '-'", valid_label);
      } else if (name == "nodes") {
        spec_.placement.nodes = string_list(
            value, shown, kMaxPlacementNodes, "nodes", "such as [\"lab-pc-3\", \"ab12cd34\"]",
            "expected a node name or node-ID prefix (1 to 255 bytes, no control characters)",
            valid_node_entry);
      } else {
        unknown_section_key(key, "placement", kPlacementKeys);
      }
    }
  }

  // An array of distinct strings that each pass `valid`.
  std::vector<std::string> string_list(const toml::node& node, const std::string& key, size_t max,
                                       std::string_view what, std::string_view example,
                                       std::string_view expected, bool (*valid)(std::string_view)) {
    const toml::array* array = node.as_array();
    if (array == nullptr) {
      error(node, key,
            "expected an array of " + std::string(what) + " " + std::string(example) + ", got " +
                describe(node));
      return {};
    }
    if (array->size() > max) {
      error(node, key,
            "expected at most " + std::to_string(max) + " " + std::string(what) + ", got " +
                std::to_string(array->size()));
      return {};
    }
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (size_t i = 0; i < array->size(); ++i) {
      const toml::node& entry = (*array)[i];
      std::optional<std::string> text = entry.value_exact<std::string>();
      if (!text || !valid(*text)) {
        error(entry, indexed(key, i), std::string(expected) + ", got " + describe(entry));
      } else if (!seen.insert(*text).second) {
        error(entry, indexed(key, i), quote_for_error(*text) + " is listed twice");
      } else {
        out.push_back(std::move(*text));
      }
    }
    return out;
  }

  std::string_view default_name_;
  JobSpec spec_;
  std::vector<Issue> issues_;
  std::vector<MountSite> sites_;
  bool has_name_ = false;
  bool has_command_ = false;
  bool image_given_ = false;
  bool image_ok_ = true;
  bool runtime_ok_ = false;
  int runtime_line_ = 0;
  int runtime_column_ = 0;
};

tl::expected<JobSpec, std::vector<SpecError>> single_error(int line, std::string message) {
  return tl::unexpected(std::vector<SpecError>{SpecError{line, "", std::move(message)}});
}

}  // namespace

tl::expected<JobSpec, std::vector<SpecError>> parse_spec(std::string_view text,
                                                         std::string_view default_name) {
  if (text.size() > kMaxSpecBytes) {
    return single_error(0, "the spec is " + std::to_string(text.size()) + " bytes; at most " +
                               std::to_string(kMaxSpecBytes) + " are allowed");
  }
  try {
    toml::table root = toml::parse(text);
    SpecParser parser(default_name);
    parser.parse(root);
    return std::move(parser).finish();
  } catch (const toml::parse_error& error) {
    return single_error(static_cast<int>(error.source().begin.line),
                        std::string(error.description()));
  } catch (const std::exception& error) {
    return single_error(0, std::string("cannot read the spec: ") + error.what());
  } catch (...) {
    return single_error(0, "cannot read the spec");
  }
}

}  // namespace synapse::compute
