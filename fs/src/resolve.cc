#include "synapse/fs/resolve.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace synapse::fs {

namespace {

// The records of one name, from every layer.
using Records = std::vector<const Entry*>;

std::map<std::string, Records> records_by_name(const std::vector<const Layer*>& layers) {
  std::map<std::string, Records> out;
  for (const Layer* layer : layers) {
    for (const auto& [name, entry] : layer->entries) out[name].push_back(&entry);
  }
  return out;
}

std::set<Version> replaced_versions(const std::vector<const Layer*>& layers) {
  std::set<Version> replaced;
  for (const Layer* layer : layers) {
    for (const auto& [name, entry] : layer->entries) {
      replaced.insert(entry.replaces.begin(), entry.replaces.end());
    }
  }
  return replaced;
}

// The records of one name that nothing replaces, ordered by version, highest first.
Records unreplaced(const Records& records, const std::set<Version>& replaced) {
  Records out;
  std::set<Version> seen;
  for (const Entry* entry : records) {
    // The same record can arrive twice (two layers of one writer in a merged directory).
    if (replaced.count(entry->version) == 0 && seen.insert(entry->version).second) {
      out.push_back(entry);
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Entry* a, const Entry* b) { return a->version > b->version; });
  return out;
}

}  // namespace

std::string conflict_name(const std::string& name, const Version& version) {
  const time_t seconds = static_cast<time_t>(version.hlc.wall_ms() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char when[32];
  std::strftime(when, sizeof when, "%Y%m%dT%H%M%SZ", &utc);
  return name + ".conflict-" + short_writer(version.writer) + "-" + when;
}

DirView resolve(const std::vector<const Layer*>& layers) {
  DirView view;
  const std::set<Version> replaced = replaced_versions(layers);
  for (const auto& [name, records] : records_by_name(layers)) {
    const Records live_and_dead = unreplaced(records, replaced);
    Records live;
    for (const Entry* entry : live_and_dead) {
      if (entry->kind != EntryKind::kDeleted) live.push_back(entry);
    }
    if (live.empty()) continue;

    // Candidates, highest version first: every file and symlink alone, all directories as one.
    std::vector<Resolved> candidates;
    std::optional<size_t> directory;
    for (const Entry* entry : live) {
      if (entry->kind == EntryKind::kDirectory && directory) {
        Entry& merged = candidates[*directory].entry;
        std::vector<DirId> dirs;
        std::set_union(merged.dirs.begin(), merged.dirs.end(), entry->dirs.begin(),
                       entry->dirs.end(), std::back_inserter(dirs));
        merged.dirs = std::move(dirs);
        candidates[*directory].versions.push_back(entry->version);
        continue;
      }
      if (entry->kind == EntryKind::kDirectory) directory = candidates.size();
      candidates.push_back(Resolved{*entry, name, false, {entry->version}});
    }
    for (size_t i = 0; i < candidates.size(); ++i) {
      Resolved& candidate = candidates[i];
      candidate.conflict_copy = i > 0;
      const std::string shown = i == 0 ? name : conflict_name(name, candidate.entry.version);
      view.emplace(shown, std::move(candidate));
    }
  }
  return view;
}

std::vector<Version> known_versions(const std::vector<const Layer*>& layers,
                                    const std::string& name) {
  std::set<Version> versions;
  for (const Layer* layer : layers) {
    auto it = layer->entries.find(name);
    if (it == layer->entries.end()) continue;
    versions.insert(it->second.version);
  }
  return {versions.begin(), versions.end()};
}

}  // namespace synapse::fs
