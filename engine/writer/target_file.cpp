#include "writer/target_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>
#include <thread>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::writer {

namespace {
// Permission bits of new files (the umask applies): rw-r--r--, as the contract says.
constexpr unsigned kFileMode = 0644;
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

std::string hidden_temp_name(const std::string& base) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          (static_cast<std::uint64_t>(::getpid()) << 32)};
  char suffix[20];
  std::snprintf(suffix, sizeof suffix, "%012llx",
                static_cast<unsigned long long>(rng() & 0xFFFFFFFFFFFFull));
  return "." + base + ".stsw-" + suffix;
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
  if (t.dir_fd_ < 0) throw errno_error(errno, "open directory of " + path);
  // A symlink at `path` (even to a directory) is replaced by the rename, never followed.
  struct stat st {};
  if (::fstatat(t.dir_fd_, t.base_.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
    throw Error(Errc::InvalidArgument, path + ": the path is a directory");
  }

  if (use_tmpfile) {
    try {
      t.file_ = File::open(t.dir_, O_TMPFILE | O_RDWR | O_CLOEXEC, kFileMode, mode);
      t.anonymous_ = true;
    } catch (const Error& e) {
      const int err = e.sys_errno();
      if (err != EOPNOTSUPP && err != EISDIR && err != EINVAL && err != ENOTSUP) throw;
    }
  }
  if (!t.anonymous_) {
    for (int attempt = 0;; ++attempt) {
      std::string name = hidden_temp_name(t.base_);
      try {
        t.file_ =
            File::open(t.dir_ + "/" + name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, kFileMode, mode);
        t.temp_name_ = std::move(name);
        break;
      } catch (const Error& e) {
        if (e.sys_errno() != EEXIST || attempt > 100) throw;
      }
    }
  }

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
  if (committed_) return;
  if (anonymous_ && temp_name_.empty()) {
    // Give the unnamed file a hidden name first: Linux has no "link and replace".
    const std::string proc = "/proc/self/fd/" + std::to_string(file_.fd());
    for (int attempt = 0;; ++attempt) {
      std::string name = hidden_temp_name(base_);
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
  // Hold the replaced file so that its blocks are freed when we close it, not in rename.
  int old_fd = ::openat(dir_fd_, base_.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (::renameat(dir_fd_, temp_name_.c_str(), dir_fd_, base_.c_str()) != 0) {
    const int err = errno;
    if (old_fd >= 0) ::close(old_fd);
    throw errno_error(err, "rename " + dir_ + "/" + temp_name_ + " to " + path_);
  }
  temp_name_.clear();
  committed_ = true;
  close_in_background(old_fd);
  if (durable && ::fsync(dir_fd_) != 0) {
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
