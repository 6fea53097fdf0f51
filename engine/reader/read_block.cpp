// StreamReader::read_block: a rows x columns block of a 2-D tensor into dense memory.
//
// Shapes of the work (never element-sized I/O):
//  - the whole tensor: read_into (CRC-checked); whole rows: one contiguous range read;
//  - large row segments (or large gaps between them): one range read per row segment,
//    straight into dst, a bounded number in flight (run_ranges);
//  - small segments: one engine scan over the rows' span of the file, through staging
//    buffers in row-spanning chunks, with workers scattering each chunk's segments into
//    dst; in Mmap mode a worker copies each row's segment out of the mapping instead.
#include <algorithm>
#include <cstring>

#include "reader/mapping.hpp"
#include "reader/range_batch.hpp"
#include "reader/read_ops.hpp"
#include "reader/reader_state.hpp"
#include "stsw/reader.hpp"

namespace stsw {

namespace {

// A row segment at least this large is read on its own, straight into dst.
constexpr std::uint64_t kRowReadMin = std::uint64_t{128} << 10;
// ... and so is a segment of at least kGapSegMin when the gap to the next row's segment is
// at least kGapMin (streaming the gaps would waste more than separate requests cost).
constexpr std::uint64_t kGapSegMin = std::uint64_t{16} << 10;
constexpr std::uint64_t kGapMin = std::uint64_t{1} << 20;
// Bytes of per-row reads kept in flight.
constexpr std::uint64_t kRowsInFlight = std::uint64_t{64} << 20;

struct Geometry {
  std::uint64_t rows = 0;       // rows in the block
  std::uint64_t row_bytes = 0;  // one full row of the tensor
  std::uint64_t first = 0;      // tensor offset of the block's first byte
  std::uint64_t seg = 0;        // bytes of one row's segment
};

// Validates the block against the tensor (InvalidArgument / LengthMismatch naming the
// file, the tensor and the block).
Geometry geometry(const detail::Shard& shard, const TensorMeta& m, const Block2D& b,
                  std::size_t dst_size) {
  auto bad = [&](Errc code, const std::string& why) {
    return Error(code, shard.path + ": tensor '" + m.name + "': block rows [" +
                           std::to_string(b.row_begin) + ", " + std::to_string(b.row_end) +
                           ") x columns [" + std::to_string(b.col_begin) + ", " +
                           std::to_string(b.col_end) + "): " + why);
  };
  if (m.shape.size() != 2) {
    throw bad(Errc::InvalidArgument,
              "the tensor has " + std::to_string(m.shape.size()) + " dimensions, not 2");
  }
  const std::uint64_t R = m.shape[0];
  const std::uint64_t C = m.shape[1];
  if (b.row_begin > b.row_end || b.row_end > R || b.col_begin > b.col_end || b.col_end > C) {
    throw bad(Errc::InvalidArgument,
              "outside the shape [" + std::to_string(R) + ", " + std::to_string(C) + "]");
  }
  const std::uint64_t bits = bit_size(m.dtype);
  // The header validated R x C x bits, so these products cannot overflow.
  if ((C * bits) % 8 != 0 || (b.col_begin * bits) % 8 != 0 || (b.col_end * bits) % 8 != 0) {
    throw bad(Errc::InvalidArgument, "the columns do not start and end on byte boundaries");
  }
  Geometry g;
  g.rows = b.row_end - b.row_begin;
  g.row_bytes = C * bits / 8;
  g.seg = (b.col_end - b.col_begin) * bits / 8;
  g.first = b.row_begin * g.row_bytes + b.col_begin * bits / 8;
  if (dst_size != g.rows * g.seg) {
    throw bad(Errc::LengthMismatch, "the block has " + std::to_string(g.rows * g.seg) +
                                        " bytes, the destination holds " +
                                        std::to_string(dst_size));
  }
  return g;
}

// Copies the parts of [pos, pos + bytes.size()) (relative to the block's first byte) that
// fall inside row segments into dst.
void scatter(const Geometry& g, std::uint64_t pos, std::span<const std::byte> bytes,
             std::span<std::byte> dst) {
  const std::uint64_t end = pos + bytes.size();
  std::uint64_t at = pos;
  while (at < end) {
    const std::uint64_t k = at / g.row_bytes;
    const std::uint64_t within = at % g.row_bytes;
    if (within >= g.seg) {
      at = (k + 1) * g.row_bytes;
      continue;
    }
    const std::uint64_t n = std::min(g.seg - within, end - at);
    std::memcpy(dst.data() + k * g.seg + within, bytes.data() + (at - pos), n);
    at += n;
  }
}

void scan_block(Engine& engine, std::shared_ptr<const detail::Shard> shard, std::size_t index,
                const Geometry& g, std::span<std::byte> dst, DoneCallback done) {
  const std::uint64_t begin = shard->abs_begin(index) + g.first;
  const std::uint64_t span = (g.rows - 1) * g.row_bytes + g.seg;
  if (shard->mode == ReadMode::Mmap) {
    engine.post(
        [shard, index, g, dst, begin] {
          const detail::Mapping& map = shard->mapping();
          const std::string& name = shard->header.tensors[index].name;
          for (std::uint64_t k = 0; k < g.rows; ++k) {
            const std::uint64_t at = begin + k * g.row_bytes;
            if (at + g.seg > map.size()) {
              throw Error(Errc::Io,
                          shard->path + ": tensor '" + name + "' lies beyond the end of the file");
            }
            const auto out = dst.subspan(k * g.seg, g.seg);
            if (detail::safe_copy(out, map.bytes().subspan(at, g.seg), shard->bfile.fd(), at) !=
                g.seg) {
              throw Error(Errc::Io, shard->path + ": tensor '" + name + "': bytes at offset " +
                                        std::to_string(at) +
                                        " are no longer in the file (truncated after open?)");
            }
          }
        },
        std::move(done));
    return;
  }
  engine.scan(
      shard->io_file(), begin, span,
      [g, dst, begin](std::uint64_t off, std::span<const std::byte> bytes) {
        scatter(g, off - begin, bytes, dst);
      },
      [shard, index, done = std::move(done)](std::exception_ptr err) {
        done(err ? detail::annotate(err, shard->header.tensors[index].name) : nullptr);
      });
}

}  // namespace

void StreamReader::read_block(std::string_view name, const Block2D& block, std::span<std::byte> dst,
                              DoneCallback done) const {
  if (!state_) {
    done(std::make_exception_ptr(Error(Errc::InvalidState, "StreamReader: used after move")));
    return;
  }
  const detail::ReaderState& st = *state_;
  Engine& engine = *st.engine;
  try {
    const detail::TensorLoc& loc = st.at(name);
    const TensorMeta& m = st.meta(loc);
    const auto& shard = st.shards[loc.shard];
    const Geometry g = geometry(*shard, m, block, dst.size());
    if (g.rows == 0 || g.seg == 0 || g.seg == g.row_bytes) {
      // Empty, or whole rows: one contiguous range (the whole tensor is CRC-checked).
      detail::start_range(engine, detail::make_range(st, name, g.first, dst), st.options.verify_crc,
                          std::move(done));
      return;
    }
    const std::uint64_t gap = g.row_bytes - g.seg;
    if (g.seg >= kRowReadMin || (g.seg >= kGapSegMin && gap >= kGapMin)) {
      std::vector<detail::RangeItem> rows;
      rows.reserve(g.rows);
      for (std::uint64_t k = 0; k < g.rows; ++k) {
        detail::RangeItem r;
        r.shard = shard;
        r.index = loc.index;
        r.offset = g.first + k * g.row_bytes;
        r.dst = dst.subspan(k * g.seg, g.seg);
        rows.push_back(std::move(r));
      }
      detail::run_ranges(st.engine, std::move(rows), false, kRowsInFlight, {}, std::move(done));
      return;
    }
    scan_block(engine, shard, loc.index, g, dst, std::move(done));
  } catch (...) {
    detail::post_error(engine, std::current_exception(), std::move(done));
  }
}

std::future<void> StreamReader::read_block(std::string_view name, const Block2D& block,
                                           std::span<std::byte> dst) const {
  return detail::future_of(
      [&](DoneCallback done) { read_block(name, block, dst, std::move(done)); });
}

}  // namespace stsw
