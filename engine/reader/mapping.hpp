// A read-only shared mapping of a whole file, and a copy out of it that reports a
// vanished page (file truncated after mapping) as an error instead of SIGBUS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace stsw::detail {

// Owns one mmap(PROT_READ, MAP_SHARED) region. Move-only; unmaps on destruction.
class Mapping {
 public:
  Mapping() = default;
  // Maps [0, size) of `fd`. size 0 gives an empty mapping. Throws Error (Io) naming `path`.
  static Mapping map(int fd, std::uint64_t size, const std::string& path);
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept { return {data_, size_}; }
  [[nodiscard]] std::size_t size() const noexcept { return size_; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

// Copies src (inside a file mapping) to dst (same size) and returns how many bytes were
// copied before the first page that could not be read (src.size() on success). Uses
// process_vm_readv on the own process, which returns EFAULT where a plain memcpy would
// raise SIGBUS. Where that system call is unavailable (seccomp), falls back to memcpy
// after the caller's size check; `fd` is then fstat-ed to shrink the copy to the file's
// current size (a truncation racing with the copy itself can then still fault).
[[nodiscard]] std::size_t safe_copy(std::span<std::byte> dst, std::span<const std::byte> src,
                                    int fd, std::uint64_t src_file_offset) noexcept;

}  // namespace stsw::detail
