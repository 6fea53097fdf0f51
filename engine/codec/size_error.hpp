// Which official error a shape that byte_size() refuses deserves.
#pragma once

#include <cstdint>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/error.hpp"

namespace stsw::codec {

// For a (dtype, shape) whose byte_size() is nullopt: ValidationOverflow when the
// element count or the bit count overflows u64 (left to right, like the official
// loader), MisalignedSlice when the bit count is not a multiple of 8.
[[nodiscard]] inline Errc size_error(DType dtype,
                                     const std::vector<std::uint64_t>& shape) noexcept {
  std::uint64_t count = 1;
  for (std::uint64_t d : shape) {
    if (__builtin_mul_overflow(count, d, &count)) return Errc::ValidationOverflow;
  }
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(count, std::uint64_t{bit_size(dtype)}, &bits)) {
    return Errc::ValidationOverflow;
  }
  return Errc::MisalignedSlice;
}

}  // namespace stsw::codec
