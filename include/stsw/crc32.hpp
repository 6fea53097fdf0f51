// CRC-32 (IEEE 802.3, reflected, zlib's crc32()) on ISA-L's accelerated kernels.
// All functions are pure and thread-safe.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace STSW_API stsw {

// zlib-compatible CRC-32 of `data`, continuing from `crc` (0 to start):
// crc32(b, crc32(a)) == crc32(a ++ b). crc32("123456789") == 0xCBF43926.
[[nodiscard]] std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc = 0) noexcept;

// The CRC of a ++ b from crc(a), crc(b) and b's length (zlib's crc32_combine), so
// chunks can be checksummed in parallel and joined in order. O(log len_b).
[[nodiscard]] std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b,
                                          std::uint64_t len_b) noexcept;

// Streaming helper. Not thread-safe; cheap to copy.
class Crc32 {
 public:
  void update(std::span<const std::byte> data) noexcept {
    value_ = crc32(data, value_);
    length_ += data.size();
  }
  // Appends a chunk whose CRC was computed elsewhere.
  void append(std::uint32_t chunk_crc, std::uint64_t chunk_len) noexcept {
    value_ = crc32_combine(value_, chunk_crc, chunk_len);
    length_ += chunk_len;
  }
  [[nodiscard]] std::uint32_t value() const noexcept { return value_; }
  [[nodiscard]] std::uint64_t length() const noexcept { return length_; }

 private:
  std::uint32_t value_ = 0;
  std::uint64_t length_ = 0;
};

}  // namespace stsw
