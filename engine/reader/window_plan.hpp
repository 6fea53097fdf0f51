// Plans for_each's reads: the data region is cut into windows of at most `capacity`
// bytes, each one read into one buffer, such that a tensor that fits in a buffer lies in
// one window, larger tensors are split at buffer boundaries, and with O_DIRECT every
// window starts at an aligned offset and has an aligned length (except at end of file).
// Pure functions, unit-tested.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace stsw::detail {

struct Extent {
  std::uint64_t begin = 0;  // absolute file offsets
  std::uint64_t end = 0;
};

// Part of a tensor delivered from a window.
struct Delivery {
  std::size_t tensor = 0;  // index into the extents
  std::uint64_t offset_in_tensor = 0;
  std::uint64_t pos = 0;  // offset in the window's buffer
  std::uint64_t length = 0;
  bool first = false;  // first piece of its tensor
  bool last = false;   // last piece of its tensor
};

struct Window {
  std::uint64_t offset = 0;  // file offset of the read
  std::uint64_t length = 0;  // bytes to read (0: nothing to read, zero-size tensors only)
  std::vector<Delivery> pieces;
};

// `extents` in file order (sorted, non-overlapping; zero-size allowed). `align` is a power
// of two dividing `capacity`. Window lengths are rounded up to `align` but never past
// `file_size`: pieces of a partial file's tensors that lie beyond it are planned all the
// same but fall outside their window's read (pos + length > window length), which the
// caller reports.
[[nodiscard]] std::vector<Window> plan_windows(std::span<const Extent> extents, std::uint64_t align,
                                               std::uint64_t capacity, std::uint64_t file_size);

}  // namespace stsw::detail
