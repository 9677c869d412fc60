// Path-level operations over a FileSystem (paths.h).
#include "synapse/fs/paths.h"

#include <vector>

namespace synapse::fs {

using core::ErrorCode;
using core::make_error;

namespace {

constexpr size_t kCopyChunk = 1 << 20;

std::vector<std::string> components(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    if (end > start) out.emplace_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

// Closes a handle on every path out of a scope.
class OpenHandle {
 public:
  OpenHandle(FileSystem& fs, HandleId handle) : fs_(fs), handle_(handle) {}
  ~OpenHandle() {
    if (handle_) (void)fs_.release(*handle_);
  }
  HandleId id() const { return *handle_; }
  // Releases now, reporting what the release's commit says.
  core::Status close() { return fs_.release(*std::exchange(handle_, std::nullopt)); }

 private:
  FileSystem& fs_;
  std::optional<HandleId> handle_;
};

}  // namespace

std::pair<std::string, std::string> split_path(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"", std::string(path)};
  return {std::string(path.substr(0, slash)), std::string(path.substr(slash + 1))};
}

std::string join_path(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  return std::string(dir) + "/" + std::string(name);
}

core::Result<Tree::Held> Tree::resolve(std::string_view path) {
  Held held(fs_);
  for (const std::string& part : components(path)) {
    SYNAPSE_ASSIGN_OR_RETURN(const Attr attr, fs_.lookup(held.ino(), part));
    held.add(attr.ino);
  }
  return held;
}

void Tree::release(Ino ino) {
  if (ino != kRootIno) fs_.forget(ino, 1);
}

core::Result<Attr> Tree::stat(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  return fs_.getattr(held.ino());
}

core::Result<bool> Tree::exists(std::string_view path) {
  auto attr = stat(path);
  if (attr) return true;
  if (attr.error().code() == ErrorCode::kNotFound) return false;
  return tl::unexpected(attr.error());
}

core::Result<std::vector<DirEntry>> Tree::list(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  return fs_.readdir(held.ino());
}

core::Result<std::string> Tree::read(std::string_view path, size_t max_bytes) {
  SYNAPSE_ASSIGN_OR_RETURN(const Attr attr, stat(path));
  if (attr.size > max_bytes) {
    return make_error(ErrorCode::kInvalidArgument, std::string(path) + " is longer than " +
                                                       std::to_string(max_bytes) + " bytes");
  }
  return read_range(path, 0, max_bytes);
}

core::Result<std::string> Tree::read_range(std::string_view path, uint64_t offset, size_t length) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  auto opened = fs_.open(held.ino(), OpenFlags{});
  if (!opened) return tl::unexpected(opened.error());
  OpenHandle handle(fs_, opened->handle);
  std::string out;
  std::vector<uint8_t> buffer(std::min(length, kCopyChunk));
  while (out.size() < length) {
    const size_t want = std::min(buffer.size(), length - out.size());
    SYNAPSE_ASSIGN_OR_RETURN(
        const size_t n, fs_.read(handle.id(), offset + out.size(), std::span(buffer).first(want)));
    if (n == 0) break;
    out.append(reinterpret_cast<const char*>(buffer.data()), n);
  }
  return out;
}

core::Status Tree::write(std::string_view path, core::ByteView data, uint32_t mode) {
  class Bytes final : public core::SequentialFile {
   public:
    explicit Bytes(core::ByteView data) : data_(data) {}
    core::Result<size_t> read(std::span<uint8_t> buffer) override {
      const size_t n = std::min(buffer.size(), data_.size() - offset_);
      std::copy_n(data_.begin() + static_cast<ptrdiff_t>(offset_), n, buffer.begin());
      offset_ += n;
      return n;
    }
    std::optional<uint64_t> size_hint() const override { return data_.size(); }

   private:
    core::ByteView data_;
    size_t offset_ = 0;
  } source(data);
  return write_from(path, source, mode);
}

core::Status Tree::write_from(std::string_view path, core::SequentialFile& source, uint32_t mode) {
  const auto [dir, name] = split_path(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Held parent, resolve(dir));
  auto created = fs_.create(parent.ino(), name, mode, OpenFlags{.write = true, .truncate = true});
  if (!created) return tl::unexpected(created.error());
  release(created->first.ino);
  OpenHandle handle(fs_, created->second.handle);
  std::vector<uint8_t> buffer(kCopyChunk);
  for (uint64_t offset = 0;;) {
    SYNAPSE_ASSIGN_OR_RETURN(const size_t n, source.read(buffer));
    if (n == 0) break;
    SYNAPSE_RETURN_IF_ERROR(fs_.write(handle.id(), offset, std::span(buffer).first(n)));
    offset += n;
  }
  SYNAPSE_RETURN_IF_ERROR(fs_.flush(handle.id()));
  return handle.close();
}

core::Status Tree::sync(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  auto opened = fs_.open(held.ino(), OpenFlags{});
  if (!opened) return tl::unexpected(opened.error());
  OpenHandle handle(fs_, opened->handle);
  return fs_.fsync(handle.id());
}

core::Status Tree::append(std::string_view path, core::ByteView data) {
  const auto [dir, name] = split_path(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Held parent, resolve(dir));
  auto created = fs_.create(parent.ino(), name, 0644, OpenFlags{.write = true, .append = true});
  if (!created) return tl::unexpected(created.error());
  release(created->first.ino);
  OpenHandle handle(fs_, created->second.handle);
  if (!data.empty()) {
    SYNAPSE_RETURN_IF_ERROR(fs_.write(handle.id(), 0, std::span(data.data(), data.size())));
  }
  SYNAPSE_RETURN_IF_ERROR(fs_.flush(handle.id()));
  return handle.close();
}

core::Status Tree::make_dir(std::string_view path) {
  const auto [dir, name] = split_path(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Held parent, resolve(dir));
  auto made = fs_.mkdir(parent.ino(), name, 0755);
  if (!made) return tl::unexpected(made.error());
  release(made->ino);
  return core::ok();
}

core::Status Tree::make_dirs(std::string_view path) {
  Held held(fs_);
  for (const std::string& part : components(path)) {
    auto attr = fs_.lookup(held.ino(), part);
    if (!attr && attr.error().code() == ErrorCode::kNotFound) {
      attr = fs_.mkdir(held.ino(), part, 0755);
      // Made meanwhile by another thread of this node: look it up.
      if (!attr && attr.error().code() == ErrorCode::kAlreadyExists) {
        attr = fs_.lookup(held.ino(), part);
      }
    }
    if (!attr) return tl::unexpected(attr.error());
    held.add(attr->ino);
    if (attr->type != FileType::kDirectory) {
      return make_error(ErrorCode::kNotDirectory, part + " is not a directory");
    }
  }
  return core::ok();
}

core::Status Tree::rename(std::string_view from, std::string_view to, RenameMode mode) {
  const auto [from_dir, from_name] = split_path(from);
  const auto [to_dir, to_name] = split_path(to);
  SYNAPSE_ASSIGN_OR_RETURN(const Held a, resolve(from_dir));
  SYNAPSE_ASSIGN_OR_RETURN(const Held b, resolve(to_dir));
  return fs_.rename(a.ino(), from_name, b.ino(), to_name, mode);
}

core::Status Tree::remove_tree(std::string_view path) {
  const auto [dir, name] = split_path(path);
  auto parent = resolve(dir);
  if (!parent) {
    if (parent.error().code() == ErrorCode::kNotFound) return core::ok();
    return tl::unexpected(parent.error());
  }
  return remove_below(parent->ino(), name);
}

core::Status Tree::remove_below(Ino parent, const std::string& name) {
  auto attr = fs_.lookup(parent, name);
  if (!attr) {
    if (attr.error().code() == ErrorCode::kNotFound) return core::ok();
    return tl::unexpected(attr.error());
  }
  Held held(fs_);  // the folder stays put while its entries go
  held.add(attr->ino);
  if (attr->type == FileType::kDirectory) {
    SYNAPSE_ASSIGN_OR_RETURN(const auto entries, fs_.readdir(attr->ino));
    for (const DirEntry& entry : entries) {
      SYNAPSE_RETURN_IF_ERROR(remove_below(attr->ino, entry.name));
    }
  }
  auto removed =
      attr->type == FileType::kDirectory ? fs_.rmdir(parent, name) : fs_.unlink(parent, name);
  if (!removed && removed.error().code() == ErrorCode::kNotFound) return core::ok();
  return removed;
}

core::Status Tree::symlink(std::string_view path, std::string_view target) {
  const auto [dir, name] = split_path(path);
  SYNAPSE_ASSIGN_OR_RETURN(const Held parent, resolve(dir));
  auto made = fs_.symlink(parent.ino(), name, target);
  if (!made) return tl::unexpected(made.error());
  release(made->ino);
  return core::ok();
}

core::Result<std::string> Tree::readlink(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  return fs_.readlink(held.ino());
}

core::Result<ContentInfo> Tree::content(std::string_view path) {
  SYNAPSE_ASSIGN_OR_RETURN(const Held held, resolve(path));
  return fs_.content_info(held.ino());
}

core::Status Tree::walk(std::string_view path, size_t max_entries,
                        const std::function<bool(const std::string&, const Attr&)>& visit) {
  size_t seen = 0;
  std::function<core::Status(const std::string&)> below =
      [&](const std::string& dir) -> core::Status {
    SYNAPSE_ASSIGN_OR_RETURN(const auto entries, list(dir));
    for (const DirEntry& entry : entries) {
      if (dir.empty() && !entry.name.empty() && entry.name.front() == '.') continue;
      if (++seen > max_entries) {
        return make_error(ErrorCode::kStoreFull, "more than " + std::to_string(max_entries) +
                                                     " entries below " + std::string(path));
      }
      const std::string child = join_path(dir, entry.name);
      if (!visit(child, entry.attr)) continue;
      if (entry.attr.type == FileType::kDirectory) SYNAPSE_RETURN_IF_ERROR(below(child));
    }
    return core::ok();
  };
  return below(std::string(path));
}

}  // namespace synapse::fs
