#include "selftest_env.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "report.hpp"
#include "stsw/error.hpp"

namespace stsw::cli {
namespace {

class ScopedFd {
 public:
  ScopedFd(const std::string& path, int flags, unsigned perm = 0644)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, perm)) {
    if (fd_ < 0) throw errno_error(errno, "open " + path);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() { ::close(fd_); }
  [[nodiscard]] int get() const noexcept { return fd_; }

 private:
  int fd_;
};

std::string default_parent() {
  std::vector<std::string> candidates = {"."};
  if (const char* t = std::getenv("TMPDIR"); t != nullptr && *t != '\0') candidates.push_back(t);
  candidates.push_back("/var/tmp");
  candidates.push_back("/tmp");
  for (const auto& c : candidates) {
    if (::access(c.c_str(), W_OK | X_OK) == 0) return c;
  }
  throw Error(Errc::InvalidArgument,
              "no writable directory for the self-test (tried ., $TMPDIR, /var/tmp, /tmp); "
              "pass --dir");
}

}  // namespace

ScratchDir::ScratchDir(const std::optional<std::string>& parent, bool keep) : keep_(keep) {
  const std::string base = parent ? *parent : default_parent();
  std::string templ = base + "/.stsw-selftest-XXXXXX";
  if (::mkdtemp(templ.data()) == nullptr) {
    throw errno_error(errno, "create a scratch directory in " + base);
  }
  path_ = templ;
}

ScratchDir::~ScratchDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
  if (ec) spdlog::warn("could not remove {}: {}", printable(path_), ec.message());
}

std::string file_system_name(const std::string& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case EXT4_SUPER_MAGIC: return "ext4";
    case XFS_SUPER_MAGIC: return "xfs";
    case TMPFS_MAGIC: return "tmpfs";
    case BTRFS_SUPER_MAGIC: return "btrfs";
    case OVERLAYFS_SUPER_MAGIC: return "overlay";
    case NFS_SUPER_MAGIC: return "nfs";
    case 0x2fc12fc1: return "zfs";
    case F2FS_SUPER_MAGIC: return "f2fs";
    case 0x65735546: return "fuse";
    default: break;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "fs 0x%lx", static_cast<unsigned long>(st.f_type));
  return buf;
}

std::uint64_t free_bytes(const std::string& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) throw errno_error(errno, "statvfs " + path);
  return static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
}

void copy_file(const std::string& from, const std::string& to) {
  ScopedFd in(from, O_RDONLY);
  ScopedFd out(to, O_WRONLY | O_CREAT | O_TRUNC);
  for (;;) {
    const ssize_t n = ::copy_file_range(in.get(), nullptr, out.get(), nullptr, 1 << 30, 0);
    if (n > 0) continue;
    if (n == 0) return;
    if (errno == EINTR) continue;
    if (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP || errno == ENOSYS) break;
    throw errno_error(errno, "copy " + from + " to " + to);
  }
  // File systems without copy_file_range: a plain read/write loop from where it stopped.
  std::vector<char> buf(std::size_t{1} << 20);
  for (;;) {
    const ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw errno_error(errno, "read " + from);
    if (n == 0) return;
    for (ssize_t done = 0; done < n;) {
      const ssize_t w = ::write(out.get(), buf.data() + done, static_cast<std::size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) throw errno_error(errno, "write " + to);
      done += w;
    }
  }
}

void flip_byte(const std::string& path, std::uint64_t offset) {
  ScopedFd fd(path, O_RDWR);
  unsigned char b = 0;
  if (::pread(fd.get(), &b, 1, static_cast<off_t>(offset)) != 1) {
    throw errno_error(errno != 0 ? errno : EIO, "read " + path);
  }
  b ^= 0x01;
  if (::pwrite(fd.get(), &b, 1, static_cast<off_t>(offset)) != 1) {
    throw errno_error(errno != 0 ? errno : EIO, "write " + path);
  }
  if (::fdatasync(fd.get()) != 0) throw errno_error(errno, "fdatasync " + path);
}

void drop_cached_pages(const std::string& path) {
  ScopedFd fd(path, O_RDONLY);
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
}

}  // namespace stsw::cli
