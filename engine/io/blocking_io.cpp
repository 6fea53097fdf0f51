#include "stsw/blocking_io.hpp"

#include <unistd.h>

#include <cerrno>
#include <string>

#include "stsw/error.hpp"

namespace stsw {

std::size_t pread_full(int fd, std::span<std::byte> dst, std::uint64_t offset,
                       std::string_view path) {
  std::size_t done = 0;
  while (done < dst.size()) {
    const ssize_t n =
        ::pread(fd, dst.data() + done, dst.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw errno_error(
          errno, "read " + std::string(path) + " at offset " + std::to_string(offset + done));
    }
    if (n == 0) break;
    done += static_cast<std::size_t>(n);
  }
  return done;
}

void pwrite_full(int fd, std::span<const std::byte> src, std::uint64_t offset,
                 std::string_view path) {
  std::size_t done = 0;
  while (done < src.size()) {
    const ssize_t n =
        ::pwrite(fd, src.data() + done, src.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw errno_error(n < 0 ? errno : ENOSPC, "write " + std::string(path) + " at offset " +
                                                    std::to_string(offset + done));
    }
    done += static_cast<std::size_t>(n);
  }
}

}  // namespace stsw
