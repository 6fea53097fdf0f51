#include "stsw/dtype.hpp"

namespace stsw {

std::string_view to_string(DType d) noexcept {
  switch (d) {
    case DType::BOOL: return "BOOL";
    case DType::F4: return "F4";
    case DType::F6_E2M3: return "F6_E2M3";
    case DType::F6_E3M2: return "F6_E3M2";
    case DType::U8: return "U8";
    case DType::I8: return "I8";
    case DType::F8_E5M2: return "F8_E5M2";
    case DType::F8_E4M3: return "F8_E4M3";
    case DType::F8_E8M0: return "F8_E8M0";
    case DType::F8_E4M3FNUZ: return "F8_E4M3FNUZ";
    case DType::F8_E5M2FNUZ: return "F8_E5M2FNUZ";
    case DType::I16: return "I16";
    case DType::U16: return "U16";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I32: return "I32";
    case DType::U32: return "U32";
    case DType::F32: return "F32";
    case DType::C64: return "C64";
    case DType::F64: return "F64";
    case DType::I64: return "I64";
    case DType::U64: return "U64";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) noexcept {
  for (DType d : kAllDTypes) {
    if (to_string(d) == name) return d;
  }
  return std::nullopt;
}

}  // namespace stsw
