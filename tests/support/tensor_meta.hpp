// A TensorMeta in one call, for tests that lay out headers by hand.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "stsw/tensor_meta.hpp"

namespace stsw::test {

// Tensor `name` of `dtype` and `shape` at data offsets [begin, end), without a CRC.
[[nodiscard]] inline TensorMeta meta(std::string name, DType dtype,
                                     std::vector<std::uint64_t> shape, std::uint64_t begin,
                                     std::uint64_t end) {
  TensorMeta m;
  m.name = std::move(name);
  m.dtype = dtype;
  m.shape = std::move(shape);
  m.offset_begin = begin;
  m.offset_end = end;
  return m;
}

}  // namespace stsw::test
