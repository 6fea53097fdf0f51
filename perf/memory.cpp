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

HugeBuffer::HugeBuffer(std::size_t size, std::uint64_t fill_seed)
    : buffer_(size, kHugePage, /*huge_pages=*/true) {
  g_caller_bytes += buffer_.size();
  // Touch every page now (without THP the buffer is still pre-faulted, only slower).
  if (fill_seed != 0) {
    fill_pattern(span(), fill_seed);
  } else if (!buffer_.empty()) {
    std::memset(buffer_.data(), 0, buffer_.size());
  }
}

HugeBuffer::HugeBuffer(HugeBuffer&& other) noexcept = default;

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& other) noexcept {
  if (this != &other) {
    g_caller_bytes -= buffer_.size();
    buffer_ = std::move(other.buffer_);
  }
  return *this;
}

HugeBuffer::~HugeBuffer() { g_caller_bytes -= buffer_.size(); }

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
