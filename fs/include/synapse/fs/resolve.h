// Resolution: the contents of a directory from the layers of every writer (docs/filesystem.md,
// "Consistency rules"). Deterministic: every node that holds the same layers computes the same
// view, whatever order they arrived in.
//
// A record is *replaced* when another record of the directory lists its version in `replaces`
// (versions are unique, so a record may replace one of another name: a rename). For each name:
// Among the unreplaced records, tombstones (kDeleted) count only when nothing else is left.
// Unreplaced directory records merge into one directory (the union of their IDs; attributes from
// the highest version). Every other unreplaced record is a candidate; the one with the highest
// version keeps the name, the others appear as `name.conflict-<writer>-<time>` (short_writer, UTC
// time of the record's HLC to the second).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "synapse/fs/entry.h"

namespace synapse::fs {

struct Resolved {
  Entry entry;            // the record shown (for a merged directory: dirs is the union)
  std::string base_name;  // the name the records were written under
  bool conflict_copy = false;
  std::vector<Version> versions;  // every record shown here (several for a merged directory)
};

// Name shown -> what it shows.
using DirView = std::map<std::string, Resolved>;

DirView resolve(const std::vector<const Layer*>& layers);

// Every version of every record named `name` in `layers`: what a new record for that name
// replaces.
std::vector<Version> known_versions(const std::vector<const Layer*>& layers,
                                    const std::string& name);

// "name.conflict-<writer>-<YYYYMMDDTHHMMSSZ>".
std::string conflict_name(const std::string& name, const Version& version);

}  // namespace synapse::fs
