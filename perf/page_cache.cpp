#include "page_cache.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "stsw/aligned_buffer.hpp"
#include "stsw/blocking_io.hpp"
#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

constexpr double kColdThreshold = 0.01;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }

 private:
  int fd_;
};

bool global_drop(std::string& note) {
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    note = std::string("cannot open /proc/sys/vm/drop_caches: ") + std::strerror(errno);
    return false;
  }
  bool ok = ::write(fd, "3", 1) == 1;
  if (!ok) note = std::string("drop_caches write failed: ") + std::strerror(errno);
  ::close(fd);
  return ok;
}

bool file_drop(const std::string& path, std::string& note) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    note = "open " + path + ": " + std::strerror(errno);
    return false;
  }
  // Dirty pages cannot be dropped: write them back first.
  (void)::fdatasync(fd.get());
  int rc = ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  if (rc != 0) {
    note = std::string("posix_fadvise(DONTNEED): ") + std::strerror(rc);
    return false;
  }
  return true;
}

}  // namespace

std::optional<CacheDrop> parse_cache_drop(std::string_view s) noexcept {
  if (s == "auto") return CacheDrop::Auto;
  if (s == "global") return CacheDrop::Global;
  if (s == "file") return CacheDrop::File;
  if (s == "none") return CacheDrop::None;
  return std::nullopt;
}

std::string_view to_string(CacheDrop d) noexcept {
  switch (d) {
    case CacheDrop::Auto: return "auto";
    case CacheDrop::Global: return "global";
    case CacheDrop::File: return "file";
    case CacheDrop::None: return "none";
  }
  return "?";
}

double resident_fraction(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return -1;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return -1;
  if (st.st_size == 0) return 0;
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) return -1;
  const long page = ::sysconf(_SC_PAGESIZE);
  const std::size_t pages =
      (size + static_cast<std::size_t>(page) - 1) / static_cast<std::size_t>(page);
  std::vector<unsigned char> vec(pages);
  double result = -1;
  if (::mincore(map, size, vec.data()) == 0) {
    std::size_t resident = 0;
    for (unsigned char v : vec) resident += v & 1U;
    result = static_cast<double>(resident) / static_cast<double>(pages);
  }
  ::munmap(map, size);
  return result;
}

DropResult drop_cache(const std::string& path, CacheDrop mode) {
  DropResult r;
  if (mode == CacheDrop::Auto) {
    mode = ::access("/proc/sys/vm/drop_caches", W_OK) == 0 ? CacheDrop::Global : CacheDrop::File;
  }
  bool ok = false;
  if (mode == CacheDrop::Global) {
    ok = global_drop(r.note);
    r.method = "drop_caches";
    if (!ok) mode = CacheDrop::File;  // fall back, keeping the note
  }
  if (mode == CacheDrop::File) {
    std::string note;
    ok = file_drop(path, note);
    r.method = "fadvise";
    if (!note.empty()) r.note += (r.note.empty() ? "" : "; ") + note;
  }
  if (mode == CacheDrop::None) r.method = "none";
  r.resident = resident_fraction(path);
  r.cold = ok && r.resident >= 0 && r.resident <= kColdThreshold;
  if (!r.cold && r.note.empty()) {
    r.note = mode == CacheDrop::None ? "cache not dropped (--cache-drop none): warm"
                                     : "file still resident after the drop: warm";
  }
  return r;
}

double warm_cache(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) throw errno_error(errno, "open " + path + " to warm the page cache");
  (void)::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  // Mapped, not from the heap: a 4 MiB heap block freed here stayed in the process's RSS
  // and was charged to every later row's peak RSS.
  const AlignedBuffer buf(std::size_t{4} << 20);
  std::uint64_t off = 0;
  for (;;) {
    const std::size_t n = pread_full(fd.get(), buf.span(), off, path);
    off += n;
    if (n < buf.size()) break;
  }
  return resident_fraction(path);
}

}  // namespace stsw::bench
