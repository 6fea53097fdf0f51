// UTF-8 well-formedness: the one validator of stsw (the header codec's tensor names and
// metadata, the CLI's escaping of untrusted names for terminals and JSON). Well-formed
// as in Rust's str::from_utf8 and Unicode 3.9: overlong forms, UTF-16 surrogates and code
// points above U+10FFFF are ill-formed. Pure functions, safe from any thread.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <optional>
#include <string_view>

namespace STSW_API stsw {

// Length (1 to 4) of the well-formed UTF-8 sequence starting at text[i], or 0 when the
// bytes there are not one (also when the sequence is cut off by the end of `text`).
// Requires i < text.size().
[[nodiscard]] std::size_t utf8_sequence_length(std::string_view text, std::size_t i) noexcept;

// Offset of the first byte that is not part of well-formed UTF-8, or nullopt when all of
// `text` is valid.
[[nodiscard]] std::optional<std::size_t> find_invalid_utf8(std::string_view text) noexcept;

}  // namespace stsw
