#include "reader/shard.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>

#include "core/logging.hpp"
#include "reader/residency.hpp"
#include "stsw/blocking_io.hpp"

namespace stsw::detail {

namespace {

// Reads exactly dst.size() bytes at `offset`; a premature end of file is Errc::Io.
void pread_exact(int fd, std::span<std::byte> dst, std::uint64_t offset, const std::string& path) {
  const std::size_t done = stsw::pread_full(fd, dst, offset, path);
  if (done < dst.size()) {
    throw Error(Errc::Io, path + ": unexpected end of file at offset " +
                              std::to_string(offset + done) + " (the file shrank while opening)");
  }
}

Header read_header(const File& file, std::uint64_t file_size, const ParseOptions& options) {
  std::array<std::byte, 8> prefix{};
  const auto got = static_cast<std::size_t>(std::min<std::uint64_t>(8, file_size));
  pread_exact(file.fd(), std::span(prefix).first(got), 0, file.path());
  // Checks 1-3: afterwards 8 + n <= file_size, so the allocation below is bounded by
  // the file's real size, never by the length it merely claims.
  const std::uint64_t n =
      parse_header_length(std::span(prefix).first(got), file_size, options.source);
  std::string text(static_cast<std::size_t>(n), '\0');
  pread_exact(file.fd(), std::as_writable_bytes(std::span(text)), 8, file.path());
  return parse_header(text, file_size - 8 - n, options);
}

// Opened with O_NONBLOCK so that a FIFO (or a file replaced by one) cannot block open();
// anything but a regular file is refused, then the flag is cleared.
void require_regular(const File& f, const std::string& path) {
  struct stat st {};
  if (::fstat(f.fd(), &st) != 0) throw errno_error(errno, "fstat " + path);
  if (S_ISDIR(st.st_mode)) throw errno_error(EISDIR, "open " + path);
  if (!S_ISREG(st.st_mode)) throw Error(Errc::InvalidArgument, path + ": not a regular file");
  for (const int fd : {f.fd(), f.buffered_fd()}) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl < 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
      throw errno_error(errno, "fcntl " + path);
    }
  }
}

// The O_DIRECT descriptor is a reopening of the buffered one (never of the path, which an
// atomic replacement may have moved to another file in between).
File open_direct_twin(const Shard& shard) {
  File f = File::reopen(shard.bfile, O_RDONLY | O_CLOEXEC | O_NONBLOCK, IoMode::Direct);
  require_regular(f, shard.path);
  return f;
}

}  // namespace

const Mapping& Shard::mapping() const {
  std::call_once(map_once_, [this] { mapping_ = Mapping::map(bfile.fd(), file_size, path); });
  return mapping_;
}

std::shared_ptr<Shard> open_shard(const std::string& path, const ReaderOptions& options) {
  auto s = std::make_shared<Shard>();
  s->path = path;
  s->bfile = File::open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0, IoMode::Buffered);
  require_regular(s->bfile, path);
  s->file_size = s->bfile.size();
  s->header = read_header(s->bfile, s->file_size,
                          ParseOptions{options.strict, options.allow_partial, path});
  s->slice_state = std::make_unique<std::atomic<std::uint8_t>[]>(s->header.tensors.size());

  const std::uint64_t data_len = s->file_size - s->data_offset();
  ReadMode want = options.io_mode;
  if (want == ReadMode::Auto) {
    const auto frac = resident_fraction(s->bfile.fd(), s->data_offset(), data_len);
    want = (!frac || *frac >= kWarmFraction) ? ReadMode::Buffered : ReadMode::Direct;
    logger().debug("reader: {}: {:.0f}% of sampled pages cached, {} reads", path,
                   frac ? *frac * 100 : 100.0, to_string(want));
  }
  if (want == ReadMode::Direct) {
    s->dfile = open_direct_twin(*s);
    if (!s->dfile.direct()) {
      s->dfile.close();
      want = ReadMode::Buffered;
    }
  }
  s->mode = want;
  s->read_ahead_on = options.read_ahead && want == ReadMode::Direct;
  for (const auto& t : s->header.tensors) {
    s->data_end = std::max(s->data_end, s->data_offset() + t.offset_end);
  }
  return s;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string_view xxhash_hint() noexcept {
  return "the file was written by the Python stsw, whose crc32 fields hold xxh32 values when "
         "it ran with the xxhash package installed";
}

Error crc_mismatch(const Shard& shard, std::string_view tensor, std::uint32_t expected,
                   std::uint32_t actual) {
  std::string msg = shard.path + ": tensor '" + std::string(tensor) + "' (expected " +
                    hex32(expected) + ", got " + hex32(actual) + ")";
  if (shard.python_stsw()) {
    msg += "; ";
    msg += xxhash_hint();
  }
  return Error(Errc::CrcMismatch, std::move(msg));
}

}  // namespace stsw::detail
