// Description of one tensor in a safetensors file.
#pragma once

#include "stsw/export.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"

namespace STSW_API stsw {

// A plain value type. Offsets are relative to the start of the data region
// (byte 8 + N of the file), exactly as in the header's "data_offsets".
struct TensorMeta {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::uint64_t offset_begin = 0;
  std::uint64_t offset_end = 0;
  std::optional<std::uint32_t> crc32;  // the "crc32" extension field, when present

  // Bytes the tensor occupies in the file: offset_end - offset_begin.
  [[nodiscard]] std::uint64_t nbytes() const noexcept { return offset_end - offset_begin; }
  // Number of elements (1 for rank 0); nullopt if the product overflows u64.
  [[nodiscard]] std::optional<std::uint64_t> numel() const noexcept;

  friend bool operator==(const TensorMeta&, const TensorMeta&) = default;
};

// Bytes that `shape` elements of `dtype` occupy, with the official checks: nullopt if the
// element count (multiplied left to right) or count x bits overflows u64, or if
// count x bits is not a multiple of 8.
[[nodiscard]] std::optional<std::uint64_t> byte_size(
    DType dtype, const std::vector<std::uint64_t>& shape) noexcept;

// `shape` as messages and `stsw inspect` print it: "[2, 3]" ("[]" for rank 0).
[[nodiscard]] std::string shape_string(const std::vector<std::uint64_t>& shape);

}  // namespace stsw
