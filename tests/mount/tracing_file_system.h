// A FileSystem decorator that prints every call and its outcome to stderr, for debugging a
// failing mount test: set SYNAPSE_MOUNT_TRACE=1 (mount_fixture.h wraps the FileSystem then).
#pragma once

#include <cstdio>
#include <mutex>
#include <string>

#include "synapse/fs/file_system.h"

namespace synapse::testing {

class TracingFileSystem final : public fs::FileSystem {
 public:
  explicit TracingFileSystem(fs::FileSystem& inner) : inner_(inner) {}

  core::Result<fs::Attr> lookup(fs::Ino parent, std::string_view name) override {
    return attr("lookup " + std::to_string(parent) + " " + std::string(name),
                inner_.lookup(parent, name));
  }
  void forget(fs::Ino ino, uint64_t count) override {
    log("forget " + std::to_string(ino) + " " + std::to_string(count));
    inner_.forget(ino, count);
  }
  core::Result<fs::Attr> getattr(fs::Ino ino) override {
    return attr("getattr " + std::to_string(ino), inner_.getattr(ino));
  }
  core::Result<fs::Attr> setattr(fs::Ino ino, const fs::SetAttr& changes,
                                 std::optional<fs::HandleId> handle) override {
    std::string what = "setattr " + std::to_string(ino);
    if (changes.mode) what += " mode=" + std::to_string(*changes.mode);
    if (changes.size) what += " size=" + std::to_string(*changes.size);
    if (changes.mtime_ns) what += " mtime=" + std::to_string(*changes.mtime_ns);
    if (handle) what += " handle=" + std::to_string(*handle);
    return attr(what, inner_.setattr(ino, changes, handle));
  }
  core::Result<std::vector<fs::DirEntry>> readdir(fs::Ino dir) override {
    auto result = inner_.readdir(dir);
    log("readdir " + std::to_string(dir) + " -> " +
        (result ? std::to_string(result->size()) + " entries" : result.error().message()));
    return result;
  }
  core::Result<fs::OpenResult> open(fs::Ino ino, fs::OpenFlags flags) override {
    auto result = inner_.open(ino, flags);
    log("open " + std::to_string(ino) + flag_text(flags) + " -> " +
        (result ? "handle " + std::to_string(result->handle) : result.error().message()));
    return result;
  }
  core::Result<std::pair<fs::Attr, fs::OpenResult>> create(fs::Ino parent, std::string_view name,
                                                           uint32_t mode,
                                                           fs::OpenFlags flags) override {
    auto result = inner_.create(parent, name, mode, flags);
    log("create " + std::to_string(parent) + " " + std::string(name) + flag_text(flags) + " -> " +
        (result ? "ino " + std::to_string(result->first.ino) + " handle " +
                      std::to_string(result->second.handle)
                : result.error().message()));
    return result;
  }
  core::Result<size_t> read(fs::HandleId handle, uint64_t offset, std::span<uint8_t> out) override {
    return count("read " + std::to_string(handle) + " " + std::to_string(out.size()) + "@" +
                     std::to_string(offset),
                 inner_.read(handle, offset, out));
  }
  core::Result<size_t> write(fs::HandleId handle, uint64_t offset,
                             std::span<const uint8_t> data) override {
    return count("write " + std::to_string(handle) + " " + std::to_string(data.size()) + "@" +
                     std::to_string(offset),
                 inner_.write(handle, offset, data));
  }
  core::Status flush(fs::HandleId handle) override {
    return status("flush " + std::to_string(handle), inner_.flush(handle));
  }
  core::Status fsync(fs::HandleId handle) override {
    return status("fsync " + std::to_string(handle), inner_.fsync(handle));
  }
  core::Status release(fs::HandleId handle) override {
    return status("release " + std::to_string(handle), inner_.release(handle));
  }
  core::Result<fs::Attr> mkdir(fs::Ino parent, std::string_view name, uint32_t mode) override {
    return attr("mkdir " + std::to_string(parent) + " " + std::string(name),
                inner_.mkdir(parent, name, mode));
  }
  core::Status rmdir(fs::Ino parent, std::string_view name) override {
    return status("rmdir " + std::to_string(parent) + " " + std::string(name),
                  inner_.rmdir(parent, name));
  }
  core::Status unlink(fs::Ino parent, std::string_view name) override {
    return status("unlink " + std::to_string(parent) + " " + std::string(name),
                  inner_.unlink(parent, name));
  }
  core::Status rename(fs::Ino parent, std::string_view name, fs::Ino new_parent,
                      std::string_view new_name, fs::RenameMode mode) override {
    return status("rename " + std::to_string(parent) + " " + std::string(name) + " -> " +
                      std::to_string(new_parent) + " " + std::string(new_name) + " mode " +
                      std::to_string(static_cast<int>(mode)),
                  inner_.rename(parent, name, new_parent, new_name, mode));
  }
  core::Result<fs::Attr> symlink(fs::Ino parent, std::string_view name,
                                 std::string_view target) override {
    return attr("symlink " + std::to_string(parent) + " " + std::string(name),
                inner_.symlink(parent, name, target));
  }
  core::Result<std::string> readlink(fs::Ino ino) override {
    auto result = inner_.readlink(ino);
    log("readlink " + std::to_string(ino) + " -> " + (result ? *result : result.error().message()));
    return result;
  }
  core::Result<fs::FsStats> statfs() override {
    log("statfs");
    return inner_.statfs();
  }

 private:
  static std::string flag_text(fs::OpenFlags flags) {
    return std::string(flags.write ? " write" : "") + (flags.truncate ? " trunc" : "") +
           (flags.append ? " append" : "") + (flags.exclusive ? " excl" : "");
  }
  void log(const std::string& line) {
    std::lock_guard lock(mutex_);
    std::fprintf(stderr, "fs: %s\n", line.c_str());
  }
  core::Result<fs::Attr> attr(const std::string& what, core::Result<fs::Attr> result) {
    log(what + " -> " +
        (result ? "ino " + std::to_string(result->ino) + " size " + std::to_string(result->size)
                : result.error().message()));
    return result;
  }
  core::Result<size_t> count(const std::string& what, core::Result<size_t> result) {
    log(what + " -> " + (result ? std::to_string(*result) : result.error().message()));
    return result;
  }
  core::Status status(const std::string& what, core::Status result) {
    log(what + " -> " + (result ? std::string("ok") : result.error().message()));
    return result;
  }

  fs::FileSystem& inner_;
  std::mutex mutex_;
};

}  // namespace synapse::testing
