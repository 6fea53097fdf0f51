// Aligned, zero-filled anonymous memory: the one aligned-buffer type of stsw, for I/O
// destinations and staging that O_DIRECT, registered buffers or huge pages need (the
// reader's for_each windows, the CLI self-test's destinations, stsw-bench's buffers).
// Move-only; the memory is unmapped on destruction. Not synchronized: one owner.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <span>

namespace STSW_API stsw {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  // `size` bytes (0: empty) whose address is a multiple of `alignment` (a power of two;
  // page size or more, e.g. 2 MiB for huge pages). The memory reads as zeros and is not
  // yet resident (pages are faulted in on first touch). `huge_pages`: ask the kernel
  // for transparent huge pages (best effort). Throws Error(Io, ENOMEM...) when the
  // mapping fails, InvalidArgument for an alignment that is not a power of two.
  explicit AlignedBuffer(std::size_t size, std::size_t alignment = 4096, bool huge_pages = false);
  AlignedBuffer(AlignedBuffer&& other) noexcept;
  AlignedBuffer& operator=(AlignedBuffer&& other) noexcept;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer();

  [[nodiscard]] std::byte* data() const noexcept { return data_; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::span<std::byte> span() const noexcept { return {data_, size_}; }
  [[nodiscard]] bool empty() const noexcept { return size_ == 0; }

 private:
  void release() noexcept;
  void* map_ = nullptr;
  std::size_t map_size_ = 0;
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace stsw
