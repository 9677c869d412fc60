#include "synapse/fs/resolve.h"

#include <algorithm>
#include <ctime>
#include <set>

namespace synapse::fs {

namespace {

// The records of one name, from every layer.
using Records = std::vector<const Entry*>;

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
  Resolver resolver;
  resolver.reset(layers);
  return resolver.view();
}

void Resolver::reset(const std::vector<const Layer*>& layers) {
  by_name_.clear();
  replaced_.clear();
  named_.clear();
  shown_.clear();
  view_.clear();
  for (const Layer* layer : layers) {
    for (const auto& [name, entry] : layer->entries) {
      by_name_[name].push_back(&entry);
      auto& named = named_[entry.version];
      named.first = name;
      ++named.second;
      for (const Version& version : entry.replaces) ++replaced_[version];
    }
  }
  for (const auto& [name, records] : by_name_) recompute(name);
}

void Resolver::note_replaces(const Entry& entry, int delta, std::set<std::string>& affected) {
  for (const Version& version : entry.replaces) {
    int& count = replaced_[version];
    count += delta;
    if (count <= 0) replaced_.erase(version);
    if (auto named = named_.find(version); named != named_.end()) {
      affected.insert(named->second.first);
    }
  }
}

void Resolver::add(const Entry* entry) {
  by_name_[entry->name].push_back(entry);
  auto& named = named_[entry->version];
  named.first = entry->name;
  ++named.second;
  std::set<std::string> affected{entry->name};
  note_replaces(*entry, +1, affected);
  for (const std::string& name : affected) recompute(name);
}

void Resolver::remove(const Entry* entry) {
  auto records = by_name_.find(entry->name);
  if (records == by_name_.end()) return;
  auto it = std::find(records->second.begin(), records->second.end(), entry);
  if (it == records->second.end()) return;
  records->second.erase(it);
  if (records->second.empty()) by_name_.erase(records);
  if (auto named = named_.find(entry->version);
      named != named_.end() && --named->second.second <= 0) {
    named_.erase(named);
  }
  std::set<std::string> affected{entry->name};
  note_replaces(*entry, -1, affected);
  for (const std::string& name : affected) recompute(name);
}

void Resolver::recompute(const std::string& name) {
  if (auto shown = shown_.find(name); shown != shown_.end()) {
    for (const std::string& shown_name : shown->second) view_.erase(shown_name);
    shown_.erase(shown);
  }
  auto records = by_name_.find(name);
  if (records == by_name_.end()) return;
  // The records nothing replaces, highest version first; the same record can come twice (two
  // layers of one writer in a merged directory). Tombstones count only when nothing else is left.
  Records live;
  std::set<Version> seen;
  for (const Entry* entry : records->second) {
    if (replaced_.count(entry->version) == 0 && entry->kind != EntryKind::kDeleted &&
        seen.insert(entry->version).second) {
      live.push_back(entry);
    }
  }
  if (live.empty()) return;
  std::sort(live.begin(), live.end(),
            [](const Entry* a, const Entry* b) { return a->version > b->version; });

  // Candidates, highest version first: every file and symlink alone, all directories as one.
  std::vector<Resolved> candidates;
  std::optional<size_t> directory;
  for (const Entry* entry : live) {
    if (entry->kind == EntryKind::kDirectory && directory) {
      Entry& merged = candidates[*directory].entry;
      std::vector<DirId> dirs;
      std::set_union(merged.dirs.begin(), merged.dirs.end(), entry->dirs.begin(), entry->dirs.end(),
                     std::back_inserter(dirs));
      merged.dirs = std::move(dirs);
      candidates[*directory].versions.push_back(entry->version);
      continue;
    }
    if (entry->kind == EntryKind::kDirectory) directory = candidates.size();
    candidates.push_back(Resolved{*entry, name, false, {entry->version}});
  }
  std::vector<std::string>& shown = shown_[name];
  for (size_t i = 0; i < candidates.size(); ++i) {
    Resolved& candidate = candidates[i];
    candidate.conflict_copy = i > 0;
    const std::string shown_name = i == 0 ? name : conflict_name(name, candidate.entry.version);
    if (view_.emplace(shown_name, std::move(candidate)).second) shown.push_back(shown_name);
  }
}

}  // namespace synapse::fs
