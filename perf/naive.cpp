#include "naive.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stsw/blocking_io.hpp"
#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

class Fd {
 public:
  Fd(const std::string& path, int flags, mode_t mode = 0)
      : fd_(::open(path.c_str(), flags | O_CLOEXEC, mode)), path_(path) {
    if (fd_ < 0) throw errno_error(errno, "open " + path);
  }
  ~Fd() { ::close(fd_); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  [[nodiscard]] int get() const { return fd_; }
  [[nodiscard]] const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

void write_all(const Fd& fd, const std::byte* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd.get(), p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) throw errno_error(errno, "write " + fd.path());
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

void check_dst(const BenchFile& file, std::span<std::byte> dst) {
  if (dst.size() < file.data_size) {
    throw Error(Errc::InvalidArgument, "destination buffer smaller than the data region");
  }
}

}  // namespace

std::uint64_t naive_write(const std::string& path, const BenchFile& file,
                          const TensorSource& source, std::size_t block) {
  Fd fd(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  write_all(fd, reinterpret_cast<const std::byte*>(file.official_header.data()),
            file.official_header.size());
  for (const auto& t : file.tensors) {
    auto bytes = source.bytes(t);
    for (std::size_t off = 0; off < bytes.size(); off += block) {
      write_all(fd, bytes.data() + off, std::min(block, bytes.size() - off));
    }
  }
  if (::fsync(fd.get()) != 0) throw errno_error(errno, "fsync " + path);
  return file.official_file_size();
}

std::uint64_t mmap_memcpy_read(const std::string& path, const BenchFile& file,
                               std::span<std::byte> dst) {
  check_dst(file, dst);
  Fd fd(path, O_RDONLY);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw errno_error(errno, "fstat " + path);
  const auto size = static_cast<std::size_t>(st.st_size);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  if (map == MAP_FAILED) throw errno_error(errno, "mmap " + path);
  const auto* base = static_cast<const std::byte*>(map);
  std::uint64_t n = 0;
  std::memcpy(&n, base, 8);  // little-endian host
  const std::uint64_t data_offset = 8 + n;
  if (data_offset + file.data_size > size) {
    ::munmap(map, size);
    throw Error(Errc::Io, path + ": shorter than the benchmark layout");
  }
  for (const auto& t : file.tensors) {
    std::memcpy(dst.data() + t.offset_begin, base + data_offset + t.offset_begin, t.nbytes());
  }
  ::munmap(map, size);
  return file.data_size;
}

std::uint64_t pread_loop_read(const std::string& path, const BenchFile& file,
                              std::span<std::byte> dst) {
  check_dst(file, dst);
  const std::uint64_t data_offset = 8 + read_header_length(path);
  Fd fd(path, O_RDONLY);
  for (const auto& t : file.tensors) {
    const auto span = dst.subspan(t.offset_begin, t.nbytes());
    if (pread_full(fd.get(), span, data_offset + t.offset_begin, path) < span.size()) {
      throw Error(Errc::Io, path + ": unexpected end of file");
    }
  }
  return file.data_size;
}

}  // namespace stsw::bench
