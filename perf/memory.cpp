#include "memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

constexpr std::size_t kHugePage = std::size_t{2} << 20;
std::atomic<std::uint64_t> g_caller_bytes{0};

std::uint64_t read_status_kib(const char* text, const char* key) noexcept {
  const char* p = std::strstr(text, key);
  if (p == nullptr) return 0;
  p += std::strlen(key);
  return std::strtoull(p, nullptr, 10) * 1024;
}

}  // namespace

std::uint64_t caller_buffer_bytes() noexcept { return g_caller_bytes.load(); }

void fill_pattern(std::span<std::byte> dst, std::uint64_t seed) noexcept {
  std::uint64_t x = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
  std::size_t i = 0;
  for (; i + 8 <= dst.size(); i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::memcpy(dst.data() + i, &x, 8);
  }
  for (; i < dst.size(); ++i) dst[i] = static_cast<std::byte>(x >> (8 * (i % 8)));
}

HugeBuffer::HugeBuffer(std::size_t size, std::uint64_t fill_seed) {
  if (size == 0) return;
  map_size_ = size + kHugePage;
  map_ = ::mmap(nullptr, map_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    throw errno_error(errno, "mmap of a " + std::to_string(size) + "-byte benchmark buffer");
  }
  auto addr = reinterpret_cast<std::uintptr_t>(map_);
  auto aligned = (addr + kHugePage - 1) & ~(kHugePage - 1);
  data_ = reinterpret_cast<std::byte*>(aligned);
  size_ = size;
  g_caller_bytes += size_;
  // Best effort: without THP the buffer is still pre-faulted, only slower to set up.
  (void)::madvise(data_, size_, MADV_HUGEPAGE);
  if (fill_seed != 0) {
    fill_pattern(span(), fill_seed);
  } else {
    std::memset(data_, 0, size_);
  }
}

HugeBuffer::HugeBuffer(HugeBuffer&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      map_size_(std::exchange(other.map_size_, 0)),
      data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)) {}

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& other) noexcept {
  if (this != &other) {
    release();
    map_ = std::exchange(other.map_, nullptr);
    map_size_ = std::exchange(other.map_size_, 0);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

HugeBuffer::~HugeBuffer() { release(); }

void HugeBuffer::release() noexcept {
  if (map_ != nullptr) {
    ::munmap(map_, map_size_);
    g_caller_bytes -= size_;
  }
  map_ = nullptr;
  data_ = nullptr;
  size_ = 0;
  map_size_ = 0;
}

RssSample read_rss() noexcept {
  RssSample s;
  int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return s;
  char buf[8192];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return s;
  buf[n] = '\0';
  s.rss = read_status_kib(buf, "VmRSS:");
  s.hwm = read_status_kib(buf, "VmHWM:");
  return s;
}

bool reset_peak_rss() noexcept {
  int fd = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = ::write(fd, "5", 1) == 1;
  ::close(fd);
  return ok;
}

}  // namespace stsw::bench
