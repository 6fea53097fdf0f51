// Interpretation of JSON number literals as the official loader (serde_json) sees
// them. Inputs are literals that already passed the JSON grammar.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace stsw::codec {

// The value of a JSON integer literal that is a u64 as serde_json reads one: digits
// only (no '-', not even "-0"; no fraction or exponent: "2.0" and "1e3" are floats)
// and at most 18446744073709551615. nullopt otherwise.
[[nodiscard]] std::optional<std::uint64_t> parse_exact_u64(std::string_view literal) noexcept;

// True when the literal's magnitude rounds to infinity as an IEEE double, which
// serde_json refuses ("number out of range") even inside ignored fields. Exact and
// locale-independent; tiny values that round to zero are fine.
[[nodiscard]] bool overflows_double(std::string_view literal) noexcept;

}  // namespace stsw::codec
