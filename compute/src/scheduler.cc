// Placement of tasks (scheduler.h): pure functions.
#include "synapse/compute/scheduler.h"

#include <algorithm>
#include <cmath>

#include "synapse/core/units.h"
#include "synapse/crypto/hash.h"

namespace synapse::compute {
namespace {

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

std::string cpus_text(double cpus) {
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%g", cpus);
  return buffer;
}

// The runtime kinds that can run `spec`, in order of preference.
std::vector<RuntimeKind> usable_runtimes(const JobSpec& spec) {
  switch (spec.runtime) {
    case Runtime::kBubblewrap:
      return {RuntimeKind::kBubblewrap};
    case Runtime::kOci:
      return {RuntimeKind::kOci};
    case Runtime::kDocker:
      return {RuntimeKind::kDocker};
    case Runtime::kPodman:
      return {RuntimeKind::kPodman};
    case Runtime::kAuto:
      break;
  }
  if (spec.image.kind == ImageKind::kEngine) return {RuntimeKind::kDocker, RuntimeKind::kPodman};
  return {RuntimeKind::kBubblewrap, RuntimeKind::kOci};
}

// XOR distance as a number for ordering (the first 8 bytes suffice to break ties).
uint64_t distance_prefix(const crypto::NodeId& a, const crypto::NodeId& b) {
  uint64_t out = 0;
  for (size_t i = 0; i < 8; ++i) out = (out << 8) | (a.bytes()[i] ^ b.bytes()[i]);
  return out;
}

}  // namespace

std::optional<RuntimeKind> pick_runtime(const JobSpec& spec,
                                        const std::vector<RuntimeKind>& available) {
  for (RuntimeKind kind : usable_runtimes(spec)) {
    if (std::find(available.begin(), available.end(), kind) != available.end()) return kind;
  }
  return std::nullopt;
}

bool policy_admits(const std::vector<std::string>& allow, const Principal& who) {
  if (allow.empty()) return true;
  const std::string id = who.node.to_hex();
  for (const std::string& rule : allow) {
    if (rule == "*") return true;
    if (starts_with(rule, "node:") && rule.size() > 5 && starts_with(id, rule.substr(5))) {
      return true;
    }
    if (starts_with(rule, "name:") && !who.name.empty() && rule.substr(5) == who.name) return true;
    if (starts_with(rule, "role:")) {
      const std::string role = rule.substr(5);
      if (std::find(who.roles.begin(), who.roles.end(), role) != who.roles.end()) return true;
    }
  }
  return false;
}

std::optional<std::string> unfit_reason(const JobSpec& spec, const NodeView& node,
                                        const Principal& who) {
  const NodeAdvert& a = node.advert;
  if (!a.accepts_jobs) return "does not run jobs";
  if (!policy_admits(a.allow, who)) return "its policy does not admit this node";
  const Resources& r = spec.resources;
  if (r.cpus > a.cpus) return "has " + std::to_string(a.cpus) + " CPUs, needs " + cpus_text(r.cpus);
  if (r.memory > a.memory) {
    return "has " + core::format_size(a.memory) + " for jobs, needs " + core::format_size(r.memory);
  }
  if (r.gpus > a.gpus.size()) {
    return "has " + std::to_string(a.gpus.size()) + " GPUs, needs " + std::to_string(r.gpus);
  }
  if (!pick_runtime(spec, a.runtimes)) {
    return "lacks the " + std::string(runtime_kind_name(usable_runtimes(spec).front())) +
           " runtime";
  }
  if ((!spec.inputs.empty() || spec.image.kind == ImageKind::kShared) && !a.mounted) {
    return "has no mount to bind inputs from";
  }
  for (const std::string& label : spec.placement.labels) {
    if (std::find(a.labels.begin(), a.labels.end(), label) == a.labels.end()) {
      return "lacks the label " + label;
    }
  }
  if (!spec.placement.nodes.empty()) {
    const std::string id = node.id.to_hex();
    const bool named =
        std::any_of(spec.placement.nodes.begin(), spec.placement.nodes.end(),
                    [&](const std::string& n) { return n == a.name || starts_with(id, n); });
    if (!named) return "is not among placement.nodes";
  }
  return std::nullopt;
}

bool has_room(const JobSpec& spec, const NodeView& node) {
  const Load& load = node.load;
  const Resources& r = spec.resources;
  const bool fits_now = node.outstanding == 0 && load.waiting == 0 &&
                        load.cpus_free + 1e-9 >= r.cpus && load.memory_free >= r.memory &&
                        load.gpus_free >= r.gpus;
  return fits_now || load.waiting + node.outstanding < node.advert.queue_depth;
}

std::vector<Ranked> rank_nodes(const JobSpec& spec, const std::vector<NodeView>& nodes,
                               const Principal& who,
                               const std::map<crypto::NodeId, uint64_t>& held_bytes,
                               uint64_t input_bytes, const crypto::NodeId& spread) {
  struct Scored {
    Ranked ranked;
    uint64_t tie;
  };
  std::vector<Scored> scored;
  const Resources& r = spec.resources;
  for (const NodeView& node : nodes) {
    if (unfit_reason(spec, node, who) || !has_room(spec, node)) continue;
    double score = 0;
    if (input_bytes > 0) {
      auto held = held_bytes.find(node.id);
      const uint64_t bytes = held == held_bytes.end() ? 0 : std::min(held->second, input_bytes);
      score += 1000.0 * static_cast<double>(bytes) / static_cast<double>(input_bytes);
    }
    // Free room after this task, relative to the node's size, and what already waits there.
    const double cpus = std::max(1.0, static_cast<double>(node.advert.cpus));
    const double memory = std::max(1.0, static_cast<double>(node.advert.memory));
    score += 100.0 * std::clamp((node.load.cpus_free - r.cpus) / cpus, -1.0, 1.0);
    score +=
        50.0 *
        std::clamp(
            (static_cast<double>(node.load.memory_free) - static_cast<double>(r.memory)) / memory,
            -1.0, 1.0);
    score -= 20.0 * (node.load.waiting + node.outstanding);
    scored.push_back({{node.id, score}, distance_prefix(node.id, spread)});
  }
  std::sort(scored.begin(), scored.end(), [](const Scored& a, const Scored& b) {
    if (std::abs(a.ranked.score - b.ranked.score) > 1e-9) return a.ranked.score > b.ranked.score;
    return a.tie < b.tie;
  });
  std::vector<Ranked> out;
  out.reserve(scored.size());
  for (const Scored& s : scored) out.push_back(s.ranked);
  return out;
}

std::optional<crypto::NodeId> closest_node(const crypto::NodeId& key,
                                           const std::vector<crypto::NodeId>& live) {
  if (live.empty()) return std::nullopt;
  return *std::min_element(live.begin(), live.end(), [&](const auto& a, const auto& b) {
    for (size_t i = 0; i < crypto::NodeId::kSize; ++i) {
      const uint8_t da = a.bytes()[i] ^ key.bytes()[i], db = b.bytes()[i] ^ key.bytes()[i];
      if (da != db) return da < db;
    }
    return false;
  });
}

crypto::NodeId job_key(const std::string& name, uint64_t instance) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(instance));
  const std::string text = "synapse/jobs/v1/" + name + "/" + hex;
  return crypto::NodeId(crypto::sha256(core::as_bytes(text)));
}

}  // namespace synapse::compute
