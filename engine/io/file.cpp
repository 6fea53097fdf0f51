// stsw::File: a file descriptor opened for the engine, with O_DIRECT where the file
// system allows it and a buffered twin descriptor for the pieces O_DIRECT cannot take.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "core/logging.hpp"
#include "io/file_table.hpp"
#include "io/sys.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"

namespace stsw {

namespace {

constexpr std::uint32_t kMinDirectAlignment = 4096;

// O_DIRECT alignment: the larger of statx's offset and memory alignments, at least 4096
// (smaller blocks make ext4 serialise sub-block writes).
std::uint32_t direct_alignment(int fd) {
  struct statx sx {};
  std::uint32_t align = kMinDirectAlignment;
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
      (sx.stx_mask & STATX_DIOALIGN) != 0) {
    align = std::max({align, sx.stx_dio_offset_align, sx.stx_dio_mem_align});
  }
  return align;
}

// A second, buffered descriptor for the same open file (works for O_TMPFILE too).
int open_buffered_twin(int fd, int flags) {
  std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return ::open(proc.c_str(), (flags & O_ACCMODE) | O_CLOEXEC);
}

}  // namespace

File File::open(const std::string& path, int flags, unsigned perm, IoMode mode) {
  return open_as(path, path, flags, perm, mode);
}

File File::reopen(const File& from, int flags, IoMode mode) {
  const std::string proc = "/proc/self/fd/" + std::to_string(from.buffered_fd());
  try {
    return open_as(proc, from.path(), flags & ~(O_CREAT | O_EXCL | O_TRUNC), 0, mode);
  } catch (const Error& e) {
    if (e.sys_errno() != ENOENT) throw;
  }
  // No /proc: open the path again, and make sure it still names the same file.
  File f = open_as(from.path(), from.path(), flags & ~(O_CREAT | O_EXCL | O_TRUNC), 0, mode);
  struct stat a {};
  struct stat b {};
  if (::fstat(from.buffered_fd(), &a) != 0 || ::fstat(f.fd(), &b) != 0) {
    throw errno_error(errno, "fstat " + from.path());
  }
  if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
    throw Error(Errc::Io, from.path() + ": the file was replaced while it was being opened");
  }
  return f;
}

// Opens `target` (a path, or a /proc/self/fd link) as the file called `path`.
File File::open_as(const std::string& target, const std::string& path, int flags, unsigned perm,
                   IoMode mode) {
  auto& log = detail::logger();
  File f;
  f.path_ = path;
  const bool want_direct =
      mode == IoMode::Direct || mode == IoMode::Auto || (flags & O_DIRECT) != 0;
  int base = (flags & ~O_DIRECT) | O_CLOEXEC;
  int fd = -1;
  if (want_direct) {
    fd = ::open(target.c_str(), base | O_DIRECT, perm);
    if (fd < 0 && errno == EINVAL) {
      log.info("{}: the file system refuses O_DIRECT; using buffered I/O", path);
      // open(2) creates the file before it checks O_DIRECT: it exists now, and it is ours.
      if ((base & O_CREAT) != 0 && (base & O_EXCL) != 0) base &= ~O_EXCL;
    } else {
      f.direct_ = fd >= 0;
    }
  }
  if (fd < 0 && (!want_direct || errno == EINVAL)) fd = ::open(target.c_str(), base, perm);
  if (fd < 0) throw errno_error(errno, "open " + path);
  f.fd_ = fd;

  if (f.direct_) {
    f.bfd_ = open_buffered_twin(fd, flags);
    if (f.bfd_ < 0) {
      const int err = errno;
      log.info("{}: no buffered twin descriptor ({}); using buffered I/O", path,
               std::strerror(err));
      const int fl = ::fcntl(fd, F_GETFL);
      if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_DIRECT) < 0) {
        const int e2 = errno;
        f.close();
        throw errno_error(e2, "fcntl " + path);
      }
      f.direct_ = false;
    }
  }
  if (f.direct_) {
    f.align_ = direct_alignment(fd);
    f.mode_ = IoMode::Direct;
  } else if (mode == IoMode::DontCache) {
    f.mode_ = IoMode::DontCache;
    f.dontcache_.store(true, std::memory_order_relaxed);
    if ((flags & O_ACCMODE) != O_WRONLY) {
      // Kernels before 6.14 and file systems without support refuse the flag.
      std::byte probe{};
      iovec iov{&probe, 1};
      if (::preadv2(fd, &iov, 1, 0, RWF_DONTCACHE) < 0 &&
          (errno == EOPNOTSUPP || errno == EINVAL)) {
        log.info("{}: RWF_DONTCACHE is not supported here; using buffered I/O", path);
        f.dontcache_.store(false, std::memory_order_relaxed);
        f.mode_ = IoMode::Buffered;
      }
    }
  } else {
    f.mode_ = IoMode::Buffered;
  }
  log.debug("opened {} (mode {}, alignment {})", path, to_string(f.mode_), f.align_);
  return f;
}

File::File(File&& other) noexcept { *this = std::move(other); }

File& File::operator=(File&& other) noexcept {
  if (this == &other) return *this;
  close();
  fd_ = std::exchange(other.fd_, -1);
  bfd_ = std::exchange(other.bfd_, -1);
  direct_ = std::exchange(other.direct_, false);
  mode_ = std::exchange(other.mode_, IoMode::Buffered);
  align_ = std::exchange(other.align_, 1);
  path_ = std::move(other.path_);
  dontcache_.store(other.dontcache_.exchange(false, std::memory_order_relaxed),
                   std::memory_order_relaxed);
  // The registrations follow the descriptors (same numbers, same open files).
  hooks_.store(other.hooks_.exchange(nullptr, std::memory_order_acq_rel),
               std::memory_order_release);
  return *this;
}

File::~File() { close(); }

void File::close() noexcept {
  // Out of every ring first: once closed, the numbers may be handed to other files.
  detail::FileHooks::closing(hooks_.exchange(nullptr, std::memory_order_acq_rel), fd_, bfd_);
  if (bfd_ >= 0) ::close(bfd_);
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  bfd_ = -1;
  direct_ = false;
  align_ = 1;
  dontcache_.store(false, std::memory_order_relaxed);
}

std::uint64_t File::size() const {
  struct stat st {};
  if (::fstat(fd_, &st) != 0) throw errno_error(errno, "fstat " + path_);
  return static_cast<std::uint64_t>(st.st_size);
}

void File::disable_dontcache() const noexcept {
  if (dontcache_.exchange(false, std::memory_order_relaxed)) {
    detail::logger().info("{}: the file system refused RWF_DONTCACHE; using buffered I/O", path_);
  }
}

}  // namespace stsw
