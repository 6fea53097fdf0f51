#include "stsw_workloads.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <future>
#include <vector>

#include "measure.hpp"
#include "stsw/aligned_buffer.hpp"
#include "stsw/convert.hpp"
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
  o.read_ahead = s.read_ahead;
  return o;
}

// read_into of every tensor in file order into dst (placed as `layout` says), at most
// `in_flight` calls outstanding (0: all at once), the oldest waited for first.
std::uint64_t read_all_into(const StreamReader& r, std::span<std::byte> dst, DstLayout layout,
                            unsigned in_flight = 0) {
  std::deque<std::future<void>> pending;
  std::uint64_t bytes = 0;
  const std::uint64_t skew =
      layout == DstLayout::Congruent ? r.shards().front().data_offset % 4096 : 0;
  std::uint64_t next = 0;  // DstLayout::Page: the next free page-aligned offset
  std::exception_ptr first;
  auto wait_oldest = [&] {
    try {
      pending.front().get();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
    pending.pop_front();
  };
  // keys() is in file order (offset_begin).
  for (const auto& name : r.keys()) {
    const TensorMeta& m = r.meta(name);
    std::uint64_t at = skew + m.offset_begin;
    if (layout == DstLayout::Page) {
      at = next;
      next += (m.nbytes() + 4095) / 4096 * 4096;
    }
    if (at + m.nbytes() > dst.size()) {
      first = std::make_exception_ptr(
          Error(Errc::InvalidArgument, "destination too small for tensor '" + name + "'"));
      break;
    }
    while (in_flight != 0 && pending.size() >= in_flight) wait_oldest();
    if (first) break;
    pending.push_back(r.read_into(name, dst.subspan(at, m.nbytes())));
    bytes += m.nbytes();
  }
  // Wait for all before rethrowing, so no read still targets dst afterwards.
  while (!pending.empty()) wait_oldest();
  if (first) std::rethrow_exception(first);
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
  mark_first_submit();
  for (const auto& t : file.tensors) w.write_block(t.name, source.bytes(t)).get();
  w.close().get();
  return 8 + w.header_size() + file.data_size;
}

std::uint64_t stsw_read_into(const std::string& path, std::span<std::byte> dst, bool verify_crc,
                             const StswSettings& s, DstLayout layout, unsigned in_flight) {
  StreamReader r = StreamReader::open(path, reader_options(verify_crc, s));
  mark_first_submit();
  return read_all_into(r, dst, layout, in_flight);
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
  mark_first_submit();
  return read_all_into(r, fresh.span(), DstLayout::Congruent);
}

std::uint64_t stsw_convert(const std::string& input, const std::string& output,
                           const StswSettings& s) {
  ConvertOptions o;
  o.format = ConvertFormat::Safetensors;
  o.io_mode = s.io_mode;
  o.engine = s.engine;
  mark_first_submit();  // convert opens and reads in one call: its whole time is the window
  (void)convert(input, output, o);
  struct stat st {};
  if (::stat(output.c_str(), &st) != 0) throw errno_error(errno, "stat " + output);
  return static_cast<std::uint64_t>(st.st_size);
}

std::uint64_t stsw_verify(const std::string& path, const StswSettings& s) {
  StreamReader r = StreamReader::open(path, reader_options(true, s));
  mark_first_submit();
  VerifyReport rep = r.verify().get();
  if (!rep.passed()) {
    throw Error(Errc::CrcMismatch, path + ": verify found " + std::to_string(rep.mismatched) +
                                       " mismatched and " + std::to_string(rep.missing) +
                                       " missing tensors");
  }
  return rep.bytes;
}

}  // namespace stsw::bench
