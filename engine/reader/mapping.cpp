#include "reader/mapping.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::detail {

Mapping Mapping::map(int fd, std::uint64_t size, const std::string& path) {
  Mapping m;
  if (size == 0) return m;
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) throw errno_error(errno, "mmap " + path);
  m.data_ = static_cast<const std::byte*>(p);
  m.size_ = size;
  return m;
}

Mapping::Mapping(Mapping&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    Mapping tmp(std::move(*this));
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

namespace {

// process_vm_readv moves at most this much per call (bounded pinning in the kernel).
constexpr std::size_t kCopyStep = std::size_t{8} << 20;

// 1: process_vm_readv works, 0: unknown yet, -1: unavailable (ENOSYS / EPERM).
std::atomic<int> g_vm_readv_state{0};

std::size_t copy_with_vm_readv(std::span<std::byte> dst, std::span<const std::byte> src,
                               bool* unavailable) noexcept {
  const pid_t self = ::getpid();
  std::size_t done = 0;
  while (done < src.size()) {
    const std::size_t n = std::min(kCopyStep, src.size() - done);
    iovec local{dst.data() + done, n};
    iovec remote{const_cast<std::byte*>(src.data() + done), n};
    const ssize_t r = ::process_vm_readv(self, &local, 1, &remote, 1, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == ENOSYS || errno == EPERM) *unavailable = true;
      return done;
    }
    if (r == 0) return done;
    done += static_cast<std::size_t>(r);
  }
  return done;
}

}  // namespace

std::size_t safe_copy(std::span<std::byte> dst, std::span<const std::byte> src, int fd,
                      std::uint64_t src_file_offset) noexcept {
  const std::size_t len = std::min(dst.size(), src.size());
  if (len == 0) return 0;
  if (g_vm_readv_state.load(std::memory_order_relaxed) >= 0) {
    bool unavailable = false;
    const std::size_t n = copy_with_vm_readv(dst.first(len), src.first(len), &unavailable);
    if (!unavailable) {
      g_vm_readv_state.store(1, std::memory_order_relaxed);
      return n;
    }
    if (n > 0) return n;  // worked partly: treat the rest as unreadable
    g_vm_readv_state.store(-1, std::memory_order_relaxed);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size <= src_file_offset) return 0;
  const std::size_t n =
      static_cast<std::size_t>(std::min<std::uint64_t>(len, file_size - src_file_offset));
  std::memcpy(dst.data(), src.data(), n);
  return n;
}

}  // namespace stsw::detail
