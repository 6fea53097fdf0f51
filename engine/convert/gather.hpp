// Producing a tensor's bytes in C order from a strided view of a random-access source,
// with bounded memory: contiguous views are copied straight into the sink's windows;
// other views (slices, transposes, broadcasts, Fortran-order arrays) are gathered chunk
// by chunk, reading each source run with one pread. Big-endian data is byte-swapped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "convert/input_file.hpp"

namespace stsw::cvt {

// Where produced bytes go: the next tensor bytes, in order.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  // A writable region (1 to max bytes) for the next bytes of the current tensor.
  [[nodiscard]] virtual std::span<std::byte> window(std::size_t max) = 0;
  // The first n bytes of the last window hold data.
  virtual void commit(std::size_t n) = 0;
  // Copies `data` through as many windows as needed.
  void write(std::span<const std::byte> data);
};

// A dense view: element (i_0, ..., i_k) lives at element offset + sum(i_j * stride_j)
// of the source, each element `element_size` bytes.
struct StridedView {
  std::uint64_t offset = 0;
  std::vector<std::uint64_t> shape;
  std::vector<std::uint64_t> stride;
  unsigned element_size = 1;
};

struct GatherOptions {
  std::size_t chunk_bytes = std::size_t{4} << 20;    // output produced per step
  std::size_t window_bytes = std::size_t{16} << 20;  // largest source span read at once
};

// Strides of a C-order (row-major) or Fortran-order (column-major) array.
[[nodiscard]] std::vector<std::uint64_t> c_strides(const std::vector<std::uint64_t>& shape);
[[nodiscard]] std::vector<std::uint64_t> f_strides(const std::vector<std::uint64_t>& shape);

// The source bytes [first, last) the view touches (0, 0 when it has no elements), or
// throws Error(InvalidArgument) if computing them overflows 64 bits.
[[nodiscard]] std::pair<std::uint64_t, std::uint64_t> view_extent(const StridedView& view);

// Swaps the bytes of every `unit`-byte word of `data` (unit 2, 4 or 8).
void byte_swap(std::span<std::byte> data, unsigned unit) noexcept;

// Writes the view's elements in C order to `sink`, byte-swapped by `swap_unit` (0: none).
// The view must lie inside `source` (checked: InvalidArgument naming the source).
// Memory: at most about twice the larger of chunk_bytes and window_bytes.
void gather(const ByteRange& source, const StridedView& view, unsigned swap_unit, ByteSink& sink,
            const GatherOptions& options = {});

}  // namespace stsw::cvt
