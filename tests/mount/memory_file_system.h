// A small in-memory fs::FileSystem for the mount tests: POSIX-like semantics with one mutex, so
// that a failing mount test can be told apart from a FileSystem bug (the POSIX suite runs on
// both this and the standalone FileSystem). Counts open handles and outstanding lookups.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "synapse/fs/file_system.h"

namespace synapse::testing {

class MemoryFileSystem final : public fs::FileSystem {
 public:
  using Attr = fs::Attr;
  using Ino = fs::Ino;
  using HandleId = fs::HandleId;

  MemoryFileSystem() {
    Node& root = nodes_[fs::kRootIno];
    root.attr = make_attr(fs::kRootIno, fs::FileType::kDirectory, 0755);
    root.attr.nlink = 2;
  }

  size_t open_handles() const {
    std::lock_guard lock(mutex_);
    return handles_.size();
  }

  core::Result<Attr> lookup(Ino parent, std::string_view name) override {
    std::lock_guard lock(mutex_);
    auto child = find_child(parent, name);
    if (!child) return tl::unexpected(child.error());
    ++nodes_[*child].lookups;
    return nodes_[*child].attr;
  }
  void forget(Ino ino, uint64_t count) override {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(ino);
    if (it != nodes_.end()) it->second.lookups -= std::min(it->second.lookups, count);
  }
  core::Result<Attr> getattr(Ino ino) override {
    std::lock_guard lock(mutex_);
    auto node = find(ino);
    if (!node) return tl::unexpected(node.error());
    return (*node)->attr;
  }
  core::Result<Attr> setattr(Ino ino, const fs::SetAttr& changes,
                             std::optional<HandleId>) override {
    std::lock_guard lock(mutex_);
    auto found = find(ino);
    if (!found) return tl::unexpected(found.error());
    Node& node = **found;
    if (changes.size) {
      if (node.attr.type == fs::FileType::kDirectory) return error(core::ErrorCode::kIsDirectory);
      node.data.resize(*changes.size, '\0');
      node.attr.size = *changes.size;
      node.attr.mtime_ns = now();
    }
    if (changes.mode) node.attr.mode = *changes.mode & 07777;
    if (changes.mtime_ns) node.attr.mtime_ns = *changes.mtime_ns;
    node.attr.ctime_ns = now();
    return node.attr;
  }
  core::Result<std::vector<fs::DirEntry>> readdir(Ino dir) override {
    std::lock_guard lock(mutex_);
    auto node = find_dir(dir);
    if (!node) return tl::unexpected(node.error());
    std::vector<fs::DirEntry> entries;
    for (const auto& [name, child] : (*node)->children) {
      entries.push_back({name, nodes_[child].attr});
    }
    return entries;
  }
  core::Result<fs::OpenResult> open(Ino ino, fs::OpenFlags flags) override {
    std::lock_guard lock(mutex_);
    return open_locked(ino, flags);
  }
  core::Result<std::pair<Attr, fs::OpenResult>> create(Ino parent, std::string_view name,
                                                       uint32_t mode,
                                                       fs::OpenFlags flags) override {
    std::lock_guard lock(mutex_);
    auto child = find_child(parent, name);
    Ino ino;
    if (child) {
      if (flags.exclusive) return error(core::ErrorCode::kAlreadyExists);
      ino = *child;
    } else if (child.error().code() != core::ErrorCode::kNotFound) {
      return tl::unexpected(child.error());
    } else {
      auto made = add(parent, name, fs::FileType::kRegular, mode);
      if (!made) return tl::unexpected(made.error());
      ino = *made;
    }
    auto opened = open_locked(ino, flags);
    if (!opened) return tl::unexpected(opened.error());
    ++nodes_[ino].lookups;
    return std::pair{nodes_[ino].attr, *opened};
  }
  core::Result<size_t> read(HandleId handle, uint64_t offset, std::span<uint8_t> out) override {
    std::lock_guard lock(mutex_);
    auto it = handles_.find(handle);
    if (it == handles_.end()) return error(core::ErrorCode::kInvalidArgument);
    const std::string& data = nodes_[it->second.ino].data;
    if (offset >= data.size()) return size_t{0};
    const size_t count = std::min<size_t>(out.size(), data.size() - offset);
    std::copy_n(data.data() + offset, count, out.data());
    return count;
  }
  core::Result<size_t> write(HandleId handle, uint64_t offset,
                             std::span<const uint8_t> bytes) override {
    std::lock_guard lock(mutex_);
    auto it = handles_.find(handle);
    if (it == handles_.end() || !it->second.flags.write) {
      return error(core::ErrorCode::kInvalidArgument);
    }
    Node& node = nodes_[it->second.ino];
    if (it->second.flags.append) offset = node.data.size();
    if (node.data.size() < offset + bytes.size()) node.data.resize(offset + bytes.size(), '\0');
    std::copy(bytes.begin(), bytes.end(), node.data.begin() + static_cast<ptrdiff_t>(offset));
    node.attr.size = node.data.size();
    node.attr.mtime_ns = node.attr.ctime_ns = now();
    return bytes.size();
  }
  core::Status flush(HandleId) override { return core::ok(); }
  core::Status fsync(HandleId) override { return core::ok(); }
  core::Status release(HandleId handle) override {
    std::lock_guard lock(mutex_);
    handles_.erase(handle);
    return core::ok();
  }
  core::Result<Attr> mkdir(Ino parent, std::string_view name, uint32_t mode) override {
    std::lock_guard lock(mutex_);
    auto made = add(parent, name, fs::FileType::kDirectory, mode);
    if (!made) return tl::unexpected(made.error());
    ++nodes_[*made].lookups;
    return nodes_[*made].attr;
  }
  core::Status rmdir(Ino parent, std::string_view name) override {
    std::lock_guard lock(mutex_);
    auto child = find_child(parent, name);
    if (!child) return tl::unexpected(child.error());
    const Node& node = nodes_[*child];
    if (node.attr.type != fs::FileType::kDirectory) return error(core::ErrorCode::kNotDirectory);
    if (!node.children.empty()) return error(core::ErrorCode::kNotEmpty);
    nodes_[parent].children.erase(std::string(name));
    return core::ok();
  }
  core::Status unlink(Ino parent, std::string_view name) override {
    std::lock_guard lock(mutex_);
    auto child = find_child(parent, name);
    if (!child) return tl::unexpected(child.error());
    if (nodes_[*child].attr.type == fs::FileType::kDirectory) {
      return error(core::ErrorCode::kIsDirectory);
    }
    nodes_[parent].children.erase(std::string(name));
    return core::ok();
  }
  core::Status rename(Ino parent, std::string_view name, Ino new_parent, std::string_view new_name,
                      fs::RenameMode mode) override {
    std::lock_guard lock(mutex_);
    auto from = find_child(parent, name);
    if (!from) return tl::unexpected(from.error());
    if (auto dir = find_dir(new_parent); !dir) return tl::unexpected(dir.error());
    auto to = find_child(new_parent, new_name);
    auto& from_children = nodes_[parent].children;
    auto& to_children = nodes_[new_parent].children;
    if (mode == fs::RenameMode::kExchange) {
      if (!to) return tl::unexpected(to.error());
      from_children[std::string(name)] = *to;
      to_children[std::string(new_name)] = *from;
      return core::ok();
    }
    if (to) {
      if (mode == fs::RenameMode::kNoReplace) return error(core::ErrorCode::kAlreadyExists);
      const bool from_dir = nodes_[*from].attr.type == fs::FileType::kDirectory;
      const Node& target = nodes_[*to];
      const bool to_dir = target.attr.type == fs::FileType::kDirectory;
      if (from_dir && !to_dir) return error(core::ErrorCode::kNotDirectory);
      if (!from_dir && to_dir) return error(core::ErrorCode::kIsDirectory);
      if (to_dir && !target.children.empty()) return error(core::ErrorCode::kNotEmpty);
    }
    const Ino ino = *from;
    from_children.erase(std::string(name));
    to_children[std::string(new_name)] = ino;
    return core::ok();
  }
  core::Result<Attr> symlink(Ino parent, std::string_view name, std::string_view target) override {
    std::lock_guard lock(mutex_);
    auto made = add(parent, name, fs::FileType::kSymlink, 0777);
    if (!made) return tl::unexpected(made.error());
    Node& node = nodes_[*made];
    node.target = std::string(target);
    node.attr.size = target.size();
    ++node.lookups;
    return node.attr;
  }
  core::Result<std::string> readlink(Ino ino) override {
    std::lock_guard lock(mutex_);
    auto node = find(ino);
    if (!node) return tl::unexpected(node.error());
    if ((*node)->attr.type != fs::FileType::kSymlink) {
      return error(core::ErrorCode::kInvalidArgument);
    }
    return (*node)->target;
  }
  core::Result<fs::FsStats> statfs() override {
    fs::FsStats stats;
    stats.total_bytes = uint64_t{1} << 30;
    stats.free_bytes = uint64_t{1} << 29;
    std::lock_guard lock(mutex_);
    stats.files = nodes_.size();
    return stats;
  }

 private:
  struct Node {
    Attr attr;
    std::string data;
    std::string target;
    std::map<std::string, Ino, std::less<>> children;
    uint64_t lookups = 0;
  };
  struct Handle {
    Ino ino;
    fs::OpenFlags flags;
  };

  static int64_t now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static tl::unexpected<core::Error> error(core::ErrorCode code) {
    return core::make_error(code, std::string(core::error_code_name(code)));
  }
  static Attr make_attr(Ino ino, fs::FileType type, uint32_t mode) {
    Attr attr;
    attr.ino = ino;
    attr.type = type;
    attr.mode = mode & 07777;
    attr.mtime_ns = attr.ctime_ns = now();
    return attr;
  }

  core::Result<Node*> find(Ino ino) {
    auto it = nodes_.find(ino);
    if (it == nodes_.end()) return error(core::ErrorCode::kNotFound);
    return &it->second;
  }
  core::Result<Node*> find_dir(Ino ino) {
    auto node = find(ino);
    if (node && (*node)->attr.type != fs::FileType::kDirectory) {
      return error(core::ErrorCode::kNotDirectory);
    }
    return node;
  }
  core::Result<Ino> find_child(Ino parent, std::string_view name) {
    if (name.size() > fs::kMaxNameLength) return error(core::ErrorCode::kNameTooLong);
    auto dir = find_dir(parent);
    if (!dir) return tl::unexpected(dir.error());
    auto it = (*dir)->children.find(name);
    if (it == (*dir)->children.end()) return error(core::ErrorCode::kNotFound);
    return it->second;
  }
  core::Result<Ino> add(Ino parent, std::string_view name, fs::FileType type, uint32_t mode) {
    auto existing = find_child(parent, name);
    if (existing) return error(core::ErrorCode::kAlreadyExists);
    if (existing.error().code() != core::ErrorCode::kNotFound) {
      return tl::unexpected(existing.error());
    }
    const Ino ino = next_ino_++;
    nodes_[ino].attr = make_attr(ino, type, mode);
    if (type == fs::FileType::kDirectory) nodes_[ino].attr.nlink = 2;
    nodes_[parent].children.emplace(std::string(name), ino);
    return ino;
  }
  core::Result<fs::OpenResult> open_locked(Ino ino, fs::OpenFlags flags) {
    auto found = find(ino);
    if (!found) return tl::unexpected(found.error());
    Node& node = **found;
    if (node.attr.type == fs::FileType::kDirectory && flags.write) {
      return error(core::ErrorCode::kIsDirectory);
    }
    if (flags.truncate && flags.write) {
      node.data.clear();
      node.attr.size = 0;
      node.attr.mtime_ns = node.attr.ctime_ns = now();
    }
    const HandleId handle = next_handle_++;
    handles_[handle] = Handle{ino, flags};
    return fs::OpenResult{handle, false};
  }

  mutable std::mutex mutex_;
  std::map<Ino, Node> nodes_;
  std::map<HandleId, Handle> handles_;
  Ino next_ino_ = 2;
  HandleId next_handle_ = 1;
};

}  // namespace synapse::testing
