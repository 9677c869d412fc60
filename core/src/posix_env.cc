// The POSIX Env: the only file in core/ that calls the operating system's file API.
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "synapse/core/env.h"

namespace synapse::core {

namespace {

namespace fs = std::filesystem;

Error errno_error(int error, std::string_view what, const fs::path& path) {
  ErrorCode code = ErrorCode::kIo;
  if (error == ENOENT || error == ENOTDIR) code = ErrorCode::kNotFound;
  if (error == EEXIST) code = ErrorCode::kAlreadyExists;
  if (error == EACCES || error == EPERM || error == EROFS) code = ErrorCode::kPermissionDenied;
  if (error == ENOSPC || error == EDQUOT) code = ErrorCode::kStoreFull;
  if (error == EISDIR) code = ErrorCode::kInvalidArgument;
  return Error(code, std::string(what) + " " + path.string() + ": " + std::strerror(error));
}

class FdFile final : public SequentialFile {
 public:
  FdFile(int fd, bool owned, std::optional<uint64_t> size) : fd_(fd), owned_(owned), size_(size) {}
  ~FdFile() override {
    if (owned_) ::close(fd_);
  }

  Result<size_t> read(std::span<uint8_t> buffer) override {
    size_t done = 0;
    while (done < buffer.size()) {
      ssize_t n = ::read(fd_, buffer.data() + done, buffer.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return make_error(ErrorCode::kIo, std::string("read failed: ") + std::strerror(errno));
      }
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  std::optional<uint64_t> size_hint() const override { return size_; }

 private:
  int fd_;
  bool owned_;
  std::optional<uint64_t> size_;
};

std::optional<uint64_t> regular_file_size(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) return static_cast<uint64_t>(st.st_size);
  return std::nullopt;
}

Status fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return tl::unexpected(errno_error(errno, "cannot open folder", dir));
  int rc = ::fsync(fd);
  int error = errno;
  ::close(fd);
  if (rc != 0) return tl::unexpected(errno_error(error, "cannot sync folder", dir));
  return ok();
}

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(int fd, fs::path dir) : fd_(fd), dir_(std::move(dir)) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  Result<size_t> read_at(uint64_t offset, std::span<uint8_t> buffer) override {
    size_t done = 0;
    while (done < buffer.size()) {
      const ssize_t n = ::pread(fd_, buffer.data() + done, buffer.size() - done,
                                static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return tl::unexpected(errno_error(errno, "cannot read a scratch file in", dir_));
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }

  Status write_at(uint64_t offset, ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n =
          ::pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return tl::unexpected(errno_error(errno, "cannot write a scratch file in", dir_));
      done += static_cast<size_t>(n);
    }
    return ok();
  }

  Status truncate(uint64_t size) override {
    if (::ftruncate(fd_, static_cast<off_t>(size)) != 0) {
      return tl::unexpected(errno_error(errno, "cannot truncate a scratch file in", dir_));
    }
    return ok();
  }

 private:
  int fd_;
  fs::path dir_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(int fd, fs::path path) : fd_(fd), path_(std::move(path)) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status append(ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return tl::unexpected(errno_error(errno, "cannot write", path_));
      done += static_cast<size_t>(n);
    }
    return ok();
  }

  Status sync() override {
    if (fd_ >= 0 && ::fdatasync(fd_) != 0) {
      return tl::unexpected(errno_error(errno, "cannot sync", path_));
    }
    return ok();
  }

  Status close() override {
    const int fd = std::exchange(fd_, -1);
    if (fd >= 0 && ::close(fd) != 0)
      return tl::unexpected(errno_error(errno, "cannot write", path_));
    return ok();
  }

 private:
  int fd_;
  fs::path path_;
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<SequentialFile>> open_sequential(const fs::path& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return tl::unexpected(errno_error(errno, "cannot open", path));
    struct stat st {};
    if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
      ::close(fd);
      return tl::unexpected(errno_error(EISDIR, "cannot read", path));
    }
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return std::make_unique<FdFile>(fd, /*owned=*/true, regular_file_size(fd));
  }

  std::unique_ptr<SequentialFile> stdin_file() override {
    return std::make_unique<FdFile>(STDIN_FILENO, /*owned=*/false, regular_file_size(STDIN_FILENO));
  }

  Result<Bytes> read_file(const fs::path& path, size_t max_size) override {
    SYNAPSE_ASSIGN_OR_RETURN(auto file, open_sequential(path));
    Bytes data(max_size + 1);
    SYNAPSE_ASSIGN_OR_RETURN(size_t n, file->read(data));
    if (n > max_size) {
      return make_error(ErrorCode::kInvalidArgument,
                        path.string() + " is larger than " + std::to_string(max_size) + " bytes");
    }
    data.resize(n);
    return data;
  }

  Status write_file_atomic(const fs::path& path, ByteView data, uint32_t mode,
                           bool overwrite) override {
    fs::path dir = path.parent_path();
    std::random_device random;
    fs::path temp = path;
    temp += ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(random());
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return tl::unexpected(errno_error(errno, "cannot create", temp));
    // The umask may have narrowed `mode`; the caller's mode is what it asked for.
    ::fchmod(fd, mode);
    size_t done = 0;
    int error = 0;
    while (done < data.size() && error == 0) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n < 0 && errno != EINTR) error = errno;
      if (n > 0) done += static_cast<size_t>(n);
    }
    if (error == 0 && ::fsync(fd) != 0) error = errno;
    ::close(fd);
    if (error == 0) {
      unsigned flags = overwrite ? 0 : RENAME_NOREPLACE;
      if (::renameat2(AT_FDCWD, temp.c_str(), AT_FDCWD, path.c_str(), flags) != 0) error = errno;
    }
    if (error != 0) {
      ::unlink(temp.c_str());
      return tl::unexpected(errno_error(error, "cannot write", path));
    }
    return fsync_dir(dir);
  }

  Result<std::unique_ptr<WritableFile>> open_writable(const fs::path& path,
                                                      uint32_t mode) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return tl::unexpected(errno_error(errno, "cannot create", path));
    return std::make_unique<PosixWritableFile>(fd, path);
  }

  Result<std::unique_ptr<WritableFile>> open_appendable(const fs::path& path,
                                                        uint32_t mode) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode);
    if (fd < 0) return tl::unexpected(errno_error(errno, "cannot open", path));
    return std::make_unique<PosixWritableFile>(fd, path);
  }

  Status rename_file(const fs::path& from, const fs::path& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return tl::unexpected(errno_error(errno, "cannot rename " + from.string() + " to", to));
    }
    return ok();
  }

  Result<std::unique_ptr<RandomAccessFile>> open_scratch(const fs::path& dir) override {
    int fd = ::open(dir.c_str(), O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
      std::string name = (dir / "scratch-XXXXXX").string();
      fd = ::mkostemp(name.data(), O_CLOEXEC);
      if (fd >= 0) ::unlink(name.c_str());
    }
    if (fd < 0) return tl::unexpected(errno_error(errno, "cannot create a scratch file in", dir));
    return std::make_unique<PosixRandomAccessFile>(fd, dir);
  }

  Result<bool> exists(const fs::path& path) override {
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) return true;
    if (errno == ENOENT) return false;
    return tl::unexpected(errno_error(errno, "cannot stat", path));
  }

  Status create_dirs(const fs::path& path, uint32_t mode) override {
    fs::path partial;
    for (const auto& part : path) {
      partial /= part;
      if (partial == partial.root_path()) continue;
      if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
        return tl::unexpected(errno_error(errno, "cannot create folder", partial));
      }
    }
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      return make_error(ErrorCode::kInvalidArgument, path.string() + " exists and is not a folder");
    }
    return ok();
  }
};

}  // namespace

Env& Env::posix() {
  static PosixEnv env;
  return env;
}

}  // namespace synapse::core
