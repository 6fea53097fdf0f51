#include "reader/residency.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <vector>

namespace stsw::detail {

namespace {
constexpr std::uint64_t kWindow = std::uint64_t{1} << 20;
constexpr std::uint64_t kMaxWindows = 64;
}  // namespace

std::optional<double> resident_fraction(int fd, std::uint64_t offset,
                                        std::uint64_t length) noexcept {
  if (length == 0) return std::nullopt;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::uint64_t first = offset / page * page;
  const std::uint64_t end = offset + length;
  const std::uint64_t span_len = end - first;
  const std::uint64_t windows = std::min(kMaxWindows, (span_len + kWindow - 1) / kWindow);
  const std::uint64_t stride =
      windows > 1 ? (span_len - std::min(span_len, kWindow)) / (windows - 1) : 0;

  std::uint64_t pages = 0;
  std::uint64_t resident = 0;
  std::vector<unsigned char> vec(kWindow / page + 1);
  for (std::uint64_t w = 0; w < windows; ++w) {
    const std::uint64_t start = first + (w * stride) / page * page;
    const std::uint64_t len = std::min(kWindow, end - start);
    void* p = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(start));
    if (p == MAP_FAILED) return std::nullopt;
    const std::uint64_t n = (len + page - 1) / page;
    const int rc = ::mincore(p, len, vec.data());
    ::munmap(p, len);
    if (rc != 0) return std::nullopt;
    for (std::uint64_t i = 0; i < n; ++i) resident += vec[i] & 1U;
    pages += n;
  }
  if (pages == 0) return std::nullopt;
  return static_cast<double>(resident) / static_cast<double>(pages);
}

}  // namespace stsw::detail
