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
#include <set>
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

// The same resolution kept up to date one record at a time, so that a change in a directory of
// n entries costs O(log n) instead of a new resolve(). It keeps pointers to the records it was
// given: a record must stay where it is until it is removed (call remove() while the record
// still holds its old contents, change or erase it, then add() what is there now). Not
// thread-safe.
class Resolver {
 public:
  // Starts over from these layers.
  void reset(const std::vector<const Layer*>& layers);
  void add(const Entry* entry);
  void remove(const Entry* entry);
  const DirView& view() const { return view_; }

 private:
  // Recomputes what the records named `name` show.
  void recompute(const std::string& name);
  void note_replaces(const Entry& entry, int delta, std::set<std::string>& affected);

  std::map<std::string, std::vector<const Entry*>> by_name_;
  std::map<Version, int> replaced_;                        // how many records list a version
  std::map<Version, std::pair<std::string, int>> named_;   // version -> name, record count
  std::map<std::string, std::vector<std::string>> shown_;  // name -> names shown for it
  DirView view_;
};

// "name.conflict-<writer>-<YYYYMMDDTHHMMSSZ>".
std::string conflict_name(const std::string& name, const Version& version);

}  // namespace synapse::fs
