// Checks a writer's inputs before any file is created. Pure functions, thread-safe.
#pragma once

#include <string_view>
#include <vector>

#include "stsw/tensor_meta.hpp"
#include "stsw/writer.hpp"

namespace stsw::writer {

// True when `s` is well-formed UTF-8 (codec::find_invalid_utf8 finds nothing).
[[nodiscard]] bool is_valid_utf8(std::string_view s) noexcept;

// Throws Error for the first problem, naming `path` and the tensor:
//   InvalidName (a name "__metadata__" or not valid UTF-8), DuplicateName,
//   ValidationOverflow / MisalignedSlice (shape x dtype impossible), TensorInvalidInfo (size
//   differs from shape x dtype), InvalidOffset (end < begin, a hole or an overlap: offsets
//   must be contiguous from 0 in the given order).
void validate_metas(const std::vector<TensorMeta>& metas, std::string_view path);

// Throws Error(InvalidArgument) for an impossible option: align not a power of two >= 8,
// chunk_size not a multiple of 4096, metadata keys or values that are not valid UTF-8.
void validate_options(const WriterOptions& options);

}  // namespace stsw::writer
