// Path-level helpers over the inode API of a FileSystem, for tests: what a shell would do.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <sstream>
#include <string>

#include "synapse/fs/file_system.h"

namespace synapse::fs::testing {

// Resolves a "/a/b" path to its inode (kRootIno for "/").
inline core::Result<Ino> resolve_path(FileSystem& fs, const std::string& path) {
  Ino ino = kRootIno;
  std::istringstream parts(path);
  for (std::string part; std::getline(parts, part, '/');) {
    if (part.empty()) continue;
    SYNAPSE_ASSIGN_OR_RETURN(const Attr attr, fs.lookup(ino, part));
    ino = attr.ino;
  }
  return ino;
}

inline std::pair<std::string, std::string> split(const std::string& path) {
  const size_t slash = path.rfind('/');
  return {path.substr(0, slash), path.substr(slash + 1)};
}

inline core::Status write_file(FileSystem& fs, const std::string& path, const std::string& data) {
  auto [dir, name] = split(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Ino parent, resolve_path(fs, dir));
  SYNAPSE_ASSIGN_OR_RETURN(
      auto created, fs.create(parent, name, 0644, OpenFlags{.write = true, .truncate = true}));
  const HandleId handle = created.second.handle;
  auto written =
      fs.write(handle, 0, std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  SYNAPSE_RETURN_IF_ERROR(fs.flush(handle));
  SYNAPSE_RETURN_IF_ERROR(fs.release(handle));
  if (!written) return tl::unexpected(written.error());
  return core::ok();
}

inline core::Result<std::string> read_file(FileSystem& fs, const std::string& path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Ino ino, resolve_path(fs, path));
  SYNAPSE_ASSIGN_OR_RETURN(const auto opened, fs.open(ino, OpenFlags{}));
  std::string out;
  std::vector<uint8_t> buffer(1 << 16);
  for (uint64_t offset = 0;;) {
    auto n = fs.read(opened.handle, offset, buffer);
    if (!n) {
      (void)fs.release(opened.handle);
      return tl::unexpected(n.error());
    }
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), *n);
    offset += *n;
  }
  SYNAPSE_RETURN_IF_ERROR(fs.release(opened.handle));
  return out;
}

inline core::Status make_dir(FileSystem& fs, const std::string& path) {
  auto [dir, name] = split(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Ino parent, resolve_path(fs, dir));
  SYNAPSE_ASSIGN_OR_RETURN(const Attr attr, fs.mkdir(parent, name, 0755));
  (void)attr;
  return core::ok();
}

inline core::Status remove(FileSystem& fs, const std::string& path) {
  auto [dir, name] = split(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Ino parent, resolve_path(fs, dir));
  return fs.unlink(parent, name);
}

inline core::Status move(FileSystem& fs, const std::string& from, const std::string& to,
                         RenameMode mode = RenameMode::kReplace) {
  auto [from_dir, from_name] = split(from);
  auto [to_dir, to_name] = split(to);
  SYNAPSE_ASSIGN_OR_RETURN(const Ino a, resolve_path(fs, from_dir));
  SYNAPSE_ASSIGN_OR_RETURN(const Ino b, resolve_path(fs, to_dir));
  return fs.rename(a, from_name, b, to_name, mode);
}

// The whole tree below `path` as "path -> content" ("<dir>" for directories, "-> target" for
// symlinks), skipping the read-only trees at the root.
inline std::map<std::string, std::string> snapshot(FileSystem& fs, const std::string& path = "") {
  std::map<std::string, std::string> out;
  auto ino = resolve_path(fs, path.empty() ? "/" : path);
  EXPECT_TRUE(ino) << path;
  if (!ino) return out;
  auto entries = fs.readdir(*ino);
  EXPECT_TRUE(entries) << path << ": " << entries.error().message();
  if (!entries) return out;
  for (const DirEntry& entry : *entries) {
    if (path.empty() && entry.name.front() == '.') continue;
    const std::string child = path + "/" + entry.name;
    if (entry.attr.type == FileType::kDirectory) {
      out[child] = "<dir>";
      auto below = snapshot(fs, child);
      out.insert(below.begin(), below.end());
    } else if (entry.attr.type == FileType::kSymlink) {
      auto target = fs.readlink(resolve_path(fs, child).value());
      out[child] = "-> " + target.value_or("?");
    } else {
      auto content = read_file(fs, child);
      EXPECT_TRUE(content) << child << ": " << content.error().message();
      out[child] = content.value_or("<unreadable>");
    }
  }
  return out;
}

}  // namespace synapse::fs::testing
