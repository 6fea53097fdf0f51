// Memory helpers for honest measurements: long-lived, pre-faulted, huge-page-backed
// buffers (PERF_NOTES.md: faulting fresh 4 KiB pages dominates naive loaders here), and
// a peak-RSS probe that measures only the growth during a timed section.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "stsw/aligned_buffer.hpp"

namespace stsw::bench {

// An anonymous mapping aligned to 2 MiB with MADV_HUGEPAGE, touched page by page at
// construction so that no page fault lands inside a timed section. Move-only; unmaps on
// destruction. Not thread-safe (a plain owner of memory).
class HugeBuffer {
 public:
  HugeBuffer() = default;
  // Throws stsw::Error(Io) when the mapping fails. `fill_seed` != 0 fills the buffer
  // with a cheap pseudo-random pattern (incompressible test data), else zeroes.
  explicit HugeBuffer(std::size_t size, std::uint64_t fill_seed = 0);
  HugeBuffer(HugeBuffer&& other) noexcept;
  HugeBuffer& operator=(HugeBuffer&& other) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;
  ~HugeBuffer();

  [[nodiscard]] std::byte* data() const noexcept { return buffer_.data(); }
  [[nodiscard]] std::size_t size() const noexcept { return buffer_.size(); }
  [[nodiscard]] std::span<std::byte> span() const noexcept { return buffer_.span(); }

 private:
  AlignedBuffer buffer_;  // the library's aligned-buffer type; this adds the accounting
};

// Bytes held by live HugeBuffers: the caller buffers (source data, destinations) that the
// peak-RSS figures exclude. Thread-safe.
[[nodiscard]] std::uint64_t caller_buffer_bytes() noexcept;

// Fills `dst` with a xorshift pattern derived from `seed` (8 bytes at a time).
void fill_pattern(std::span<std::byte> dst, std::uint64_t seed) noexcept;

// Resident-set figures of this process from /proc/self/status, in bytes (0 if unreadable).
struct RssSample {
  std::uint64_t rss = 0;  // VmRSS now
  std::uint64_t hwm = 0;  // VmHWM: the peak since start or since the last reset
};
[[nodiscard]] RssSample read_rss() noexcept;

// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs). Returns false
// where the kernel refuses; peak figures are then peaks since process start.
bool reset_peak_rss() noexcept;

}  // namespace stsw::bench
