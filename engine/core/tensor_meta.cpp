#include "stsw/tensor_meta.hpp"

namespace stsw {

std::optional<std::uint64_t> TensorMeta::numel() const noexcept {
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

std::optional<std::uint64_t> byte_size(DType dtype,
                                       const std::vector<std::uint64_t>& shape) noexcept {
  // Left-to-right multiplication, like the official loader: [2^32, 2^32, 0] overflows.
  std::uint64_t n = 1;
  for (std::uint64_t d : shape) {
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  std::uint64_t bits = 0;
  if (__builtin_mul_overflow(n, std::uint64_t{bit_size(dtype)}, &bits)) return std::nullopt;
  if (bits % 8 != 0) return std::nullopt;
  return bits / 8;
}

std::string shape_string(const std::vector<std::uint64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i != 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

}  // namespace stsw
