#include "convert/input_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>
#include <vector>

#include "stsw/blocking_io.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {

namespace {
std::uint64_t fstat_size(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw errno_error(errno, "fstat " + path);
  if (!S_ISREG(st.st_mode)) throw Error(Errc::InvalidArgument, path + ": not a regular file");
  return static_cast<std::uint64_t>(st.st_size);
}
}  // namespace

InputFile InputFile::open(const std::string& path) {
  InputFile f;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) throw errno_error(errno, "open " + path);
  f.path_ = path;
  f.size_ = fstat_size(f.fd_, path);
  return f;
}

InputFile InputFile::temporary(const std::string& dir) {
  InputFile f;
  f.path_ = dir + "/<temporary>";
  f.fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (f.fd_ < 0) {
    // File systems without O_TMPFILE: a named file removed at once.
    std::string tmpl = dir + "/.stsw-convert-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    f.fd_ = ::mkostemp(buf.data(), O_CLOEXEC);
    if (f.fd_ < 0) throw errno_error(errno, "create a temporary file in " + dir);
    ::unlink(buf.data());
  }
  return f;
}

InputFile::InputFile(InputFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

InputFile& InputFile::operator=(InputFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

void InputFile::read_exact(std::uint64_t offset, std::span<std::byte> dst,
                           std::string_view what) const {
  if (offset > size_ || dst.size() > size_ - offset) {
    throw Error(Errc::InvalidArgument, path_ + ": truncated: " + std::string(what) +
                                           " needs bytes [" + std::to_string(offset) + ", " +
                                           std::to_string(offset + dst.size()) +
                                           ") but the file has " + std::to_string(size_));
  }
  const std::size_t done = pread_full(fd_, dst, offset, path_);
  if (done < dst.size()) {
    throw Error(Errc::Io, path_ + ": unexpected end of file at offset " +
                              std::to_string(offset + done) + " reading " + std::string(what));
  }
}

void InputFile::append(std::span<const std::byte> src) {
  pwrite_full(fd_, src, size_, path_);
  size_ += src.size();
}

void ByteRange::read(std::uint64_t pos, std::span<std::byte> dst) const {
  if (pos > size || dst.size() > size - pos) {
    throw Error(Errc::InvalidArgument, name + ": read of bytes [" + std::to_string(pos) + ", " +
                                           std::to_string(pos + dst.size()) + ") beyond its size " +
                                           std::to_string(size));
  }
  file->read_exact(offset + pos, dst, name);
}

}  // namespace stsw::cvt
