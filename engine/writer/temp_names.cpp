// Hidden temporary names and abandoned leftovers (include/stsw/temp_files.hpp has the rules).
#include "writer/temp_names.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <random>
#include <vector>

#include "stsw/error.hpp"
#include "stsw/temp_files.hpp"

namespace stsw::writer {

namespace {

constexpr std::string_view kMark = ".stsw-";
constexpr std::size_t kRandomDigits = 12;
constexpr std::size_t kHashDigits = 8;

// FNV-1a: a stable hash of the full destination name for shortened stems.
std::uint32_t fnv1a(std::string_view s) noexcept {
  std::uint32_t h = 2166136261U;
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 16777619U;
  }
  return h;
}

bool is_lower_hex(char c) noexcept { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// The names in `dir_fd` (a private duplicate is read, so the caller's offset is untouched).
std::vector<std::string> list_names(int dir_fd) {
  std::vector<std::string> names;
  const int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw errno_error(errno, "open directory");
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    const int err = errno;
    ::close(fd);
    throw errno_error(err, "read directory");
  }
  errno = 0;
  while (const dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  const int err = errno;
  ::closedir(d);
  if (err != 0) throw errno_error(err, "read directory");
  return names;
}

}  // namespace

std::size_t name_max_of(int dir_fd) noexcept {
  const long n = ::fpathconf(dir_fd, _PC_NAME_MAX);
  return n > 0 ? static_cast<std::size_t>(n) : 255;
}

std::string hidden_temp_prefix(const std::string& base, std::size_t name_max) {
  const std::size_t fixed = 1 + kMark.size() + kRandomDigits;
  if (fixed + base.size() <= name_max) return "." + base + std::string(kMark);
  // ".<cut>~<hash>.stsw-<random>": keep as much of the name as fits.
  const std::size_t room =
      name_max > fixed + 1 + kHashDigits ? name_max - fixed - 1 - kHashDigits : 0;
  std::size_t cut = std::min(room, base.size());
  while (cut > 0 && (static_cast<unsigned char>(base[cut]) & 0xC0) == 0x80) --cut;
  char hash[16];
  std::snprintf(hash, sizeof hash, "%08x", fnv1a(base));
  return "." + base.substr(0, cut) + "~" + hash + std::string(kMark);
}

std::string hidden_temp_name(const std::string& base, std::size_t name_max) {
  static thread_local std::mt19937_64 rng{std::random_device{}() ^
                                          (static_cast<std::uint64_t>(::getpid()) << 32)};
  char suffix[20];
  std::snprintf(suffix, sizeof suffix, "%012llx",
                static_cast<unsigned long long>(rng() & 0xFFFFFFFFFFFFull));
  return hidden_temp_prefix(base, name_max) + suffix;
}

bool is_hidden_temp_name(std::string_view name, std::string_view prefix) {
  if (name.size() < kRandomDigits) return false;
  const std::string_view head = name.substr(0, name.size() - kRandomDigits);
  const std::string_view digits = name.substr(head.size());
  for (const char c : digits) {
    if (!is_lower_hex(c)) return false;
  }
  if (!prefix.empty()) return head == prefix;
  return head.size() > 1 + kMark.size() && head.front() == '.' && head.ends_with(kMark);
}

int lock_temp_file(int fd) noexcept {
  int rc;
  do {
    rc = ::flock(fd, LOCK_EX | LOCK_NB);
  } while (rc != 0 && errno == EINTR);
  return rc == 0 ? 0 : errno;
}

Leftover judge_leftover(int dir_fd, const std::string& name, bool remove,
                        std::uint64_t* size) noexcept {
  // O_NONBLOCK: a FIFO planted at the name must not block; O_NOFOLLOW: nor a symlink lead
  // anywhere.
  const int fd =
      ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) return Leftover::Skipped;
  Leftover result = Leftover::Skipped;
  struct stat held {};
  if (::fstat(fd, &held) == 0 && S_ISREG(held.st_mode)) {
    if (size != nullptr) *size = static_cast<std::uint64_t>(held.st_size);
    if (lock_temp_file(fd) != 0) {
      result = Leftover::InUse;  // EWOULDBLOCK, or a file system without flock: keep it
    } else {
      result = Leftover::Kept;
      // Holding the lock, nobody can rename the file away or take its name: its writer, if
      // any, is dead, or created it and has not locked it yet (and will re-check the name).
      struct stat now {};
      if (remove && ::fstatat(dir_fd, name.c_str(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
          now.st_dev == held.st_dev && now.st_ino == held.st_ino &&
          ::unlinkat(dir_fd, name.c_str(), 0) == 0) {
        result = Leftover::Removed;
      }
    }
  }
  ::close(fd);
  return result;
}

void remove_abandoned(int dir_fd, const std::string& prefix) noexcept {
  try {
    for (const std::string& name : list_names(dir_fd)) {
      if (is_hidden_temp_name(name, prefix)) (void)judge_leftover(dir_fd, name, true);
    }
  } catch (...) {
    // Best effort: an unreadable directory only means nothing is cleaned.
  }
}

}  // namespace stsw::writer

namespace stsw {

std::vector<TempFileEntry> clean_temp_files(const std::string& dir, bool remove) {
  const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) throw errno_error(errno, "open directory " + dir);
  std::vector<TempFileEntry> out;
  try {
    std::vector<std::string> names;
    try {
      names = writer::list_names(dir_fd);
    } catch (const Error& e) {
      throw errno_error(e.sys_errno(), "read directory " + dir);
    }
    for (const std::string& name : names) {
      if (!writer::is_hidden_temp_name(name)) continue;
      TempFileEntry entry;
      entry.path = dir + "/" + name;
      switch (writer::judge_leftover(dir_fd, name, remove, &entry.size)) {
        case writer::Leftover::Skipped: continue;
        case writer::Leftover::InUse: entry.in_use = true; break;
        case writer::Leftover::Kept: break;
        case writer::Leftover::Removed: entry.removed = true; break;
      }
      out.push_back(std::move(entry));
    }
  } catch (...) {
    ::close(dir_fd);
    throw;
  }
  ::close(dir_fd);
  return out;
}

}  // namespace stsw
