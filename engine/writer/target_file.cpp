#include "writer/target_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <thread>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::writer {

namespace {
// Permission bits of new files (the umask applies): rw-r--r--, as the contract says.
constexpr unsigned kFileMode = 0644;

const char* type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "directory";
  if (S_ISCHR(mode)) return "character device";
  if (S_ISBLK(mode)) return "block device";
  if (S_ISFIFO(mode)) return "FIFO";
  if (S_ISSOCK(mode)) return "socket";
  return "special file";
}

// An error creating the temporary file, told about the destination (not the directory
// or a hidden name the user never asked for).
Error creation_error(const Error& e, const std::string& path, const std::string& dir) {
  if (e.sys_errno() == 0) return e;
  return errno_error(e.sys_errno(), "create " + path + " (a temporary file in " + dir + ")");
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}
}  // namespace

void split_path(const std::string& path, std::string& dir, std::string& base) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) {
    dir = ".";
    base = path;
  } else {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    base = path.substr(slash + 1);
  }
}

void close_in_background(int fd) noexcept {
  if (fd < 0) return;
  try {
    std::thread([fd] { ::close(fd); }).detach();
  } catch (...) {
    ::close(fd);
  }
}

TargetFile TargetFile::create(const std::string& path, IoMode mode, std::uint64_t size,
                              bool use_tmpfile) {
  TargetFile t;
  t.path_ = path;
  split_path(path, t.dir_, t.base_);
  if (t.base_.empty() || t.base_ == "." || t.base_ == "..") {
    throw Error(Errc::InvalidArgument, path + ": the path names a directory, not a file");
  }
  t.dir_fd_ = ::open(t.dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t.dir_fd_ < 0) throw errno_error(errno, "open the directory of " + path);
  t.name_max_ = name_max_of(t.dir_fd_);
  if (t.base_.size() > t.name_max_) {
    throw errno_error(ENAMETOOLONG, path + ": the name has " + std::to_string(t.base_.size()) +
                                        " bytes, more than the " + std::to_string(t.name_max_) +
                                        " the file system allows");
  }
  t.check_destination();
  remove_abandoned(t.dir_fd_, hidden_temp_prefix(t.base_, t.name_max_));

  if (use_tmpfile) {
    try {
      t.file_ = File::open(t.dir_, O_TMPFILE | O_RDWR | O_CLOEXEC, kFileMode, mode);
      t.anonymous_ = true;
      // Locked before it has a name: a cleaner can never take it for a leftover.
      (void)lock_temp_file(t.file_.fd());
    } catch (const Error& e) {
      const int err = e.sys_errno();
      if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL && err != ENOTSUP) {
        throw creation_error(e, path, t.dir_);
      }
    }
  }
  if (!t.anonymous_) t.create_hidden(mode);

  if (size > 0) {
    int rc;
    do {
      rc = ::fallocate(t.file_.fd(), 0, 0, static_cast<off_t>(size));
    } while (rc != 0 && errno == EINTR);
    if (rc != 0 && errno != EOPNOTSUPP && errno != ENOSYS && errno != EINVAL) {
      throw errno_error(errno, "preallocate " + std::to_string(size) + " bytes for " + path);
    }
  }
  return t;
}

void TargetFile::check_destination() const {
  struct stat st {};
  if (::fstatat(dir_fd_, base_.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return;
    throw errno_error(errno, "stat " + path_);
  }
  // A symlink (even to a directory or a device) is replaced by the rename, never followed.
  if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) return;
  throw Error(Errc::InvalidArgument, path_ + ": the destination is a " + type_name(st.st_mode) +
                                         "; only a regular file or a symlink is replaced");
}

void TargetFile::create_hidden(IoMode mode) {
  for (int attempt = 0;; ++attempt) {
    std::string name = hidden_temp_name(base_, name_max_);
    File f;
    try {
      f = File::open(dir_ + "/" + name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, kFileMode, mode);
    } catch (const Error& e) {
      if (e.sys_errno() == EEXIST && attempt < 100) continue;
      throw creation_error(e, path_, dir_);
    }
    // Between the creation and the lock a cleaner may have judged the name abandoned: it
    // then holds the lock or removed the name, and we pick another one.
    const int rc = lock_temp_file(f.fd());
    struct stat mine {};
    struct stat now {};
    const bool still_ours = ::fstat(f.fd(), &mine) == 0 &&
                            ::fstatat(dir_fd_, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
                            same_file(mine, now);
    if (still_ours && rc != EWOULDBLOCK) {  // other errors: no flock here, nobody cleans
      file_ = std::move(f);
      temp_name_ = std::move(name);
      return;
    }
    if (still_ours) ::unlinkat(dir_fd_, name.c_str(), 0);
    if (attempt >= 100) {
      throw Error(Errc::Io, "create " + path_ + ": no temporary name in " + dir_ +
                                " stayed ours long enough to lock it");
    }
  }
}

TargetFile::TargetFile(TargetFile&& other) noexcept { *this = std::move(other); }

TargetFile& TargetFile::operator=(TargetFile&& other) noexcept {
  if (this != &other) {
    discard();
    path_ = std::move(other.path_);
    dir_ = std::move(other.dir_);
    base_ = std::move(other.base_);
    temp_name_ = std::exchange(other.temp_name_, {});
    file_ = std::move(other.file_);
    dir_fd_ = std::exchange(other.dir_fd_, -1);
    name_max_ = other.name_max_;
    anonymous_ = other.anonymous_;
    committed_ = other.committed_;
  }
  return *this;
}

TargetFile::~TargetFile() { discard(); }

void TargetFile::truncate(std::uint64_t size) {
  int rc;
  do {
    rc = ::ftruncate(file_.fd(), static_cast<off_t>(size));
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) throw errno_error(errno, "truncate " + path_ + " to " + std::to_string(size));
}

void TargetFile::commit(bool durable) {
  publish();
  if (durable) sync_directory();
}

void TargetFile::publish() {
  if (committed_) return;
  if (anonymous_ && temp_name_.empty()) {
    // Give the unnamed file a hidden name first: Linux has no "link and replace".
    const std::string proc = "/proc/self/fd/" + std::to_string(file_.fd());
    for (int attempt = 0;; ++attempt) {
      std::string name = hidden_temp_name(base_, name_max_);
      int rc = ::linkat(AT_FDCWD, proc.c_str(), dir_fd_, name.c_str(), AT_SYMLINK_FOLLOW);
      if (rc != 0 && errno == ENOENT) {  // no /proc: needs CAP_DAC_READ_SEARCH
        rc = ::linkat(file_.fd(), "", dir_fd_, name.c_str(), AT_EMPTY_PATH);
      }
      if (rc == 0) {
        temp_name_ = std::move(name);
        break;
      }
      if (errno != EEXIST || attempt > 100) throw errno_error(errno, "link " + path_);
    }
  }
  // Whatever appeared at `path` since open() is checked again: never replace a device.
  check_destination();
  // Hold the replaced file so that its blocks are freed when we close it, not in rename.
  int old_fd = ::openat(dir_fd_, base_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, base_.c_str()) != 0) {
    const int err = errno;
    if (old_fd >= 0) ::close(old_fd);
    throw errno_error(err, "rename " + dir_ + "/" + temp_name_ + " to " + path_);
  }
  temp_name_.clear();
  committed_ = true;
  ::flock(file_.fd(), LOCK_UN);  // the live writer's lock guards hidden names only
  close_in_background(old_fd);
}

void TargetFile::sync_directory() {
  if (::fsync(dir_fd_) != 0) {
    throw errno_error(errno, "fsync directory " + dir_ + " after renaming " + path_);
  }
}

void TargetFile::discard() noexcept {
  if (!temp_name_.empty() && dir_fd_ >= 0) {
    ::unlinkat(dir_fd_, temp_name_.c_str(), 0);
    temp_name_.clear();
  }
  file_.close();
  if (dir_fd_ >= 0) {
    ::close(dir_fd_);
    dir_fd_ = -1;
  }
}

}  // namespace stsw::writer
