// A minimal passthrough file system (libfuse3 high-level API): every operation on MOUNT/x is the
// same operation on SOURCE/x. bench/fs/run builds it only when libfuse's own passthrough_ll
// example (/usr/share/doc/libfuse3-dev/examples) is missing or does not build.
//
//   gcc -O2 -Wall own_passthrough.c $(pkg-config fuse3 --cflags --libs) -o own_passthrough
//   own_passthrough -f -o source=SOURCE MOUNT
//
// Like passthrough_ll: no fsync of its own (fsync() from the application is passed on), the
// kernel's default caching (entry and attribute timeouts of 1 s), multi-threaded.
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <unistd.h>

static struct {
  char *source;
} options;

static const struct fuse_opt option_spec[] = {
    {"source=%s", 0, 1},
    FUSE_OPT_END,
};

// SOURCE + path; paths longer than PATH_MAX fail with ENAMETOOLONG.
static int full(char out[PATH_MAX], const char *path) {
  int n = snprintf(out, PATH_MAX, "%s%s", options.source, path);
  return n < 0 || n >= PATH_MAX ? -ENAMETOOLONG : 0;
}

#define FULL(var, path)               \
  char var[PATH_MAX];                 \
  do {                                \
    int err_ = full(var, path);       \
    if (err_ != 0) return err_;       \
  } while (0)

static void *op_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
  (void)conn;
  cfg->use_ino = 1;
  cfg->entry_timeout = 1.0;
  cfg->attr_timeout = 1.0;
  cfg->negative_timeout = 0;
  return NULL;
}

static int op_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
  if (fi != NULL) return fstat(fi->fh, st) == -1 ? -errno : 0;
  FULL(p, path);
  return lstat(p, st) == -1 ? -errno : 0;
}

static int op_readlink(const char *path, char *buf, size_t size) {
  FULL(p, path);
  ssize_t n = readlink(p, buf, size - 1);
  if (n == -1) return -errno;
  buf[n] = '\0';
  return 0;
}

static int op_readdir(const char *path, void *buf, fuse_fill_dir_t filler, off_t offset,
                      struct fuse_file_info *fi, enum fuse_readdir_flags flags) {
  (void)offset;
  (void)fi;
  (void)flags;
  FULL(p, path);
  DIR *dir = opendir(p);
  if (dir == NULL) return -errno;
  struct dirent *de;
  while ((de = readdir(dir)) != NULL) {
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = de->d_ino;
    st.st_mode = (mode_t)de->d_type << 12;
    if (filler(buf, de->d_name, &st, 0, 0)) break;
  }
  closedir(dir);
  return 0;
}

static int op_mkdir(const char *path, mode_t mode) {
  FULL(p, path);
  return mkdir(p, mode) == -1 ? -errno : 0;
}

static int op_unlink(const char *path) {
  FULL(p, path);
  return unlink(p) == -1 ? -errno : 0;
}

static int op_rmdir(const char *path) {
  FULL(p, path);
  return rmdir(p) == -1 ? -errno : 0;
}

static int op_symlink(const char *target, const char *path) {
  FULL(p, path);
  return symlink(target, p) == -1 ? -errno : 0;
}

static int op_rename(const char *from, const char *to, unsigned int flags) {
  FULL(a, from);
  FULL(b, to);
  return renameat2(AT_FDCWD, a, AT_FDCWD, b, flags) == -1 ? -errno : 0;
}

static int op_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
  if (fi != NULL) return fchmod(fi->fh, mode) == -1 ? -errno : 0;
  FULL(p, path);
  return chmod(p, mode) == -1 ? -errno : 0;
}

static int op_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
  if (fi != NULL) return fchown(fi->fh, uid, gid) == -1 ? -errno : 0;
  FULL(p, path);
  return lchown(p, uid, gid) == -1 ? -errno : 0;
}

static int op_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
  if (fi != NULL) return ftruncate(fi->fh, size) == -1 ? -errno : 0;
  FULL(p, path);
  return truncate(p, size) == -1 ? -errno : 0;
}

static int op_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
  if (fi != NULL) return futimens(fi->fh, tv) == -1 ? -errno : 0;
  FULL(p, path);
  return utimensat(AT_FDCWD, p, tv, AT_SYMLINK_NOFOLLOW) == -1 ? -errno : 0;
}

static int op_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
  FULL(p, path);
  int fd = open(p, fi->flags, mode);
  if (fd == -1) return -errno;
  fi->fh = fd;
  return 0;
}

static int op_open(const char *path, struct fuse_file_info *fi) {
  FULL(p, path);
  int fd = open(p, fi->flags);
  if (fd == -1) return -errno;
  fi->fh = fd;
  return 0;
}

static int op_read(const char *path, char *buf, size_t size, off_t offset,
                   struct fuse_file_info *fi) {
  (void)path;
  ssize_t n = pread(fi->fh, buf, size, offset);
  return n == -1 ? -errno : (int)n;
}

static int op_write(const char *path, const char *buf, size_t size, off_t offset,
                    struct fuse_file_info *fi) {
  (void)path;
  ssize_t n = pwrite(fi->fh, buf, size, offset);
  return n == -1 ? -errno : (int)n;
}

static int op_statfs(const char *path, struct statvfs *st) {
  FULL(p, path);
  return statvfs(p, st) == -1 ? -errno : 0;
}

static int op_release(const char *path, struct fuse_file_info *fi) {
  (void)path;
  close(fi->fh);
  return 0;
}

static int op_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
  (void)path;
  int res = datasync ? fdatasync(fi->fh) : fsync(fi->fh);
  return res == -1 ? -errno : 0;
}

static const struct fuse_operations operations = {
    .init = op_init,
    .getattr = op_getattr,
    .readlink = op_readlink,
    .readdir = op_readdir,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .chmod = op_chmod,
    .chown = op_chown,
    .truncate = op_truncate,
    .utimens = op_utimens,
    .create = op_create,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .statfs = op_statfs,
    .release = op_release,
    .fsync = op_fsync,
};

int main(int argc, char *argv[]) {
  struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
  if (fuse_opt_parse(&args, &options, option_spec, NULL) == -1) return 1;
  if (options.source == NULL) {
    fprintf(stderr, "usage: %s [-f] -o source=DIR MOUNTPOINT\n", argv[0]);
    return 1;
  }
  char *real = realpath(options.source, NULL);
  if (real == NULL) {
    perror(options.source);
    return 1;
  }
  options.source = real;
  umask(0);
  int ret = fuse_main(args.argc, args.argv, &operations, NULL);
  fuse_opt_free_args(&args);
  free(real);
  return ret;
}
