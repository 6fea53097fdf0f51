#include "stsw_workloads.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <future>
#include <vector>

#include "stsw/aligned_buffer.hpp"
#include "stsw/engine.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"

namespace stsw::bench {
namespace {

ReaderOptions reader_options(bool verify_crc, const StswSettings& s) {
  ReaderOptions o;
  o.verify_crc = verify_crc;
  o.io_mode = s.read_mode;
  o.engine = s.engine;
  return o;
}

std::uint64_t read_all_into(const StreamReader& r, std::span<std::byte> dst, DstLayout layout) {
  std::vector<std::future<void>> pending;
  std::uint64_t bytes = 0;
  const std::uint64_t skew =
      layout == DstLayout::Congruent ? r.shards().front().data_offset % 4096 : 0;
  std::uint64_t next = 0;  // DstLayout::Page: the next free page-aligned offset
  for (const auto& name : r.keys()) {
    const TensorMeta& m = r.meta(name);
    std::uint64_t at = skew + m.offset_begin;
    if (layout == DstLayout::Page) {
      at = next;
      next += (m.nbytes() + 4095) / 4096 * 4096;
    }
    if (at + m.nbytes() > dst.size()) {
      throw Error(Errc::InvalidArgument, "destination too small for tensor '" + name + "'");
    }
    pending.push_back(r.read_into(name, dst.subspan(at, m.nbytes())));
    bytes += m.nbytes();
  }
  wait_all(pending);  // all of them before rethrowing: no read still targets dst afterwards
  return bytes;
}

}  // namespace

std::string_view to_string(DstLayout l) noexcept {
  switch (l) {
    case DstLayout::Page: return "page";
    case DstLayout::Packed: return "packed";
    case DstLayout::Congruent: return "congruent";
  }
  return "?";
}

std::optional<DstLayout> parse_dst_layout(std::string_view s) noexcept {
  for (DstLayout l : {DstLayout::Page, DstLayout::Packed, DstLayout::Congruent}) {
    if (s == to_string(l)) return l;
  }
  return std::nullopt;
}

std::uint64_t dst_bytes_needed(std::uint64_t data_size, std::size_t tensors) noexcept {
  return data_size + 4096 * (static_cast<std::uint64_t>(tensors) + 1);
}

std::uint64_t stsw_write(const std::string& path, const BenchFile& file, const TensorSource& source,
                         bool crc32, const StswSettings& s) {
  WriterOptions o;
  o.crc32 = crc32;
  o.metadata = Metadata{{"format", "pt"}};
  o.io_mode = s.io_mode;
  o.engine = s.engine;
  StreamWriter w = StreamWriter::open(path, file.tensors, o);
  for (const auto& t : file.tensors) w.write_block(t.name, source.bytes(t)).get();
  w.close().get();
  return 8 + w.header_size() + file.data_size;
}

std::uint64_t stsw_read_into(const std::string& path, std::span<std::byte> dst, bool verify_crc,
                             const StswSettings& s, DstLayout layout) {
  StreamReader r = StreamReader::open(path, reader_options(verify_crc, s));
  return read_all_into(r, dst, layout);
}

std::uint64_t stsw_read_into_fresh(const std::string& path, bool verify_crc,
                                   const StswSettings& s) {
  StreamReader r = StreamReader::open(path, reader_options(verify_crc, s));
  std::uint64_t data = 0;
  for (const auto& name : r.keys()) data = std::max(data, r.meta(name).offset_end);
  if (data == 0) return 0;
  const std::uint64_t size = dst_bytes_needed(data, r.size());
  // Fresh memory, not pre-faulted: the workload measures the faults too.
  const AlignedBuffer fresh(static_cast<std::size_t>(size));
  return read_all_into(r, fresh.span(), DstLayout::Page);
}

std::uint64_t stsw_verify(const std::string& path, const StswSettings& s) {
  StreamReader r = StreamReader::open(path, reader_options(true, s));
  VerifyReport rep = r.verify().get();
  if (!rep.passed()) {
    throw Error(Errc::CrcMismatch, path + ": verify found " + std::to_string(rep.mismatched) +
                                       " mismatched and " + std::to_string(rep.missing) +
                                       " missing tensors");
  }
  return rep.bytes;
}

std::uint64_t engine_write(const std::string& path, std::uint64_t bytes,
                           std::span<const std::byte> pool, const StswSettings& s,
                           WriteTarget target) {
  const std::uint64_t total = (bytes + 4095) / 4096 * 4096;
  const int flags = target == WriteTarget::NewFile     ? O_RDWR | O_CREAT | O_TRUNC
                    : target == WriteTarget::Overwrite ? O_RDWR | O_CREAT
                                                       : O_RDWR;
  File f = File::open(path, flags, 0644, s.io_mode);
  if (target != WriteTarget::Device) {
    if (int rc = ::posix_fallocate(f.fd(), 0, static_cast<off_t>(total)); rc != 0) {
      throw errno_error(rc, "fallocate " + path);
    }
  }
  std::size_t piece = pool.size() / (std::size_t{2} << 20) * (std::size_t{2} << 20);
  if (piece == 0) piece = pool.size() / 4096 * 4096;
  if (piece == 0) throw Error(Errc::InvalidArgument, "source pool smaller than 4096 bytes");
  // One transfer at a time keeps the queue depth equal to fio's; the drain between two
  // pool-sized transfers is one bubble per GiB.
  for (std::uint64_t off = 0; off < total; off += piece) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(piece, total - off));
    s.engine->write(f, off, pool.first(n)).get();
  }
  s.engine->sync(f, true).get();
  return total;
}

std::uint64_t engine_read(const std::string& path, std::span<std::byte> dst, const StswSettings& s,
                          std::uint64_t bytes, bool want_crc) {
  File f = File::open(path, O_RDONLY, 0, s.io_mode);
  const std::uint64_t size = bytes != 0 ? bytes : f.size();
  if (dst.empty()) throw Error(Errc::InvalidArgument, "empty destination");
  // Files larger than dst are read in dst-sized transfers, one after the other.
  for (std::uint64_t off = 0; off < size; off += dst.size()) {
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(dst.size(), size - off));
    (void)s.engine->read(f, off, dst.first(n), want_crc).get();
  }
  return size;
}

}  // namespace stsw::bench
