#include "stsw/crc32.hpp"

#include <isa-l/crc.h>

namespace stsw {

std::uint32_t crc32(std::span<const std::byte> data, std::uint32_t crc) noexcept {
  if (data.empty()) return crc;
  // crc32_gzip_refl is zlib's crc32() (reflected 0xEDB88320, pre/post inverted).
  return crc32_gzip_refl(crc, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

namespace {

// GF(2) matrix helpers for zlib's crc32_combine: applying the operator "append len2
// zero bytes" to crc_a by repeated squaring.
std::uint32_t gf2_times(const std::uint32_t* mat, std::uint32_t vec) noexcept {
  std::uint32_t sum = 0;
  while (vec != 0) {
    if (vec & 1U) sum ^= *mat;
    vec >>= 1;
    ++mat;
  }
  return sum;
}

void gf2_square(std::uint32_t* square, const std::uint32_t* mat) noexcept {
  for (int n = 0; n < 32; ++n) square[n] = gf2_times(mat, mat[n]);
}

}  // namespace

std::uint32_t crc32_combine(std::uint32_t crc_a, std::uint32_t crc_b,
                            std::uint64_t len_b) noexcept {
  if (len_b == 0) return crc_a;
  std::uint32_t even[32];
  std::uint32_t odd[32];
  odd[0] = 0xEDB88320U;  // the operator for one zero bit
  std::uint32_t row = 1;
  for (int n = 1; n < 32; ++n) {
    odd[n] = row;
    row <<= 1;
  }
  gf2_square(even, odd);  // two zero bits
  gf2_square(odd, even);  // four zero bits
  do {
    gf2_square(even, odd);
    if (len_b & 1U) crc_a = gf2_times(even, crc_a);
    len_b >>= 1;
    if (len_b == 0) break;
    gf2_square(odd, even);
    if (len_b & 1U) crc_a = gf2_times(odd, crc_a);
    len_b >>= 1;
  } while (len_b != 0);
  return crc_a ^ crc_b;
}

}  // namespace stsw
