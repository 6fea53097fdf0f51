// Casting floating tensors while they stream (`stsw convert --dtype`): F64, F32, F16 and
// BF16 sources become F32, F16 or BF16, element by element, with bounded memory.
//
// Rounding: to nearest, ties to even; NaN stays NaN (quiet), infinities stay infinite,
// values beyond the target's range become infinities (IEEE conversion). F64 to BF16 goes
// through F32 (a tie at F32 precision may round twice; at most one BF16 ulp apart).
#pragma once

#include <functional>

#include "convert/gather.hpp"
#include "stsw/dtype.hpp"

namespace stsw::cvt {

// True for the dtypes a cast reads and writes: F64, F32, F16, BF16 (reads) and F32, F16,
// BF16 (writes).
[[nodiscard]] bool is_cast_source(DType dtype) noexcept;
[[nodiscard]] bool is_cast_target(DType dtype) noexcept;

// A producer writing `from`-typed bytes, wrapped to write `to`-typed ones: the wrapped
// producer's bytes are converted as they pass. Both dtypes must pass the checks above.
[[nodiscard]] std::function<void(ByteSink&)> cast_producer(std::function<void(ByteSink&)> inner,
                                                           DType from, DType to);

}  // namespace stsw::cvt
