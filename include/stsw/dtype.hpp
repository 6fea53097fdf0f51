// Element types of the safetensors format (FORMAT.md section 3).
#pragma once

#include "stsw/export.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace STSW_API stsw {

// Enumerators are declared in the official canonical rank order, lowest first, so
// `dtype_rank(d)` is the enumerator's value. Names are spelled exactly as in the
// format (case-sensitive).
enum class DType : std::uint8_t {
  BOOL,
  F4,
  F6_E2M3,
  F6_E3M2,
  U8,
  I8,
  F8_E5M2,
  F8_E4M3,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  I16,
  U16,
  F16,
  BF16,
  I32,
  U32,
  F32,
  C64,
  F64,
  I64,
  U64,
};

inline constexpr std::size_t kDTypeCount = 22;

// Every dtype, in canonical rank order (lowest first).
inline constexpr std::array<DType, kDTypeCount> kAllDTypes = {
    DType::BOOL,        DType::F4,      DType::F6_E2M3, DType::F6_E3M2, DType::U8,
    DType::I8,          DType::F8_E5M2, DType::F8_E4M3, DType::F8_E8M0, DType::F8_E4M3FNUZ,
    DType::F8_E5M2FNUZ, DType::I16,     DType::U16,     DType::F16,     DType::BF16,
    DType::I32,         DType::U32,     DType::F32,     DType::C64,     DType::F64,
    DType::I64,         DType::U64};

// Bits per element: 4, 6, 8, 16, 32 or 64.
[[nodiscard]] constexpr unsigned bit_size(DType d) noexcept {
  switch (d) {
    case DType::F4: return 4;
    case DType::F6_E2M3:
    case DType::F6_E3M2: return 6;
    case DType::BOOL:
    case DType::U8:
    case DType::I8:
    case DType::F8_E5M2:
    case DType::F8_E4M3:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return 8;
    case DType::I16:
    case DType::U16:
    case DType::F16:
    case DType::BF16: return 16;
    case DType::I32:
    case DType::U32:
    case DType::F32: return 32;
    case DType::C64:
    case DType::F64:
    case DType::I64:
    case DType::U64: return 64;
  }
  return 0;
}

// Canonical sort rank (FORMAT.md section 4): the official writer orders tensors by
// rank descending, then by name bytes ascending.
[[nodiscard]] constexpr unsigned dtype_rank(DType d) noexcept { return static_cast<unsigned>(d); }

// Parses the exact, case-sensitive format name ("F32", "BF16", "F8_E4M3", ...).
[[nodiscard]] std::optional<DType> parse_dtype(std::string_view name) noexcept;

// The format name of `d`; the view refers to static storage.
[[nodiscard]] std::string_view to_string(DType d) noexcept;

}  // namespace stsw
