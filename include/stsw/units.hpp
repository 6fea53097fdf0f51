// Byte sizes as people type and read them: the one size parser and the one byte
// formatter of stsw (the CLI's --size and --max-shard-size, stsw-bench's options and
// tables, the Python package). Pure functions, safe from any thread.
#pragma once

#include "stsw/export.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace STSW_API stsw {

// A whole number of bytes with an optional unit, case-insensitive, no spaces:
//   ""  "B"                     bytes
//   "K" "M" "G" "T"             binary: 2^10, 2^20, 2^30, 2^40 (also "KiB" ... "TiB")
//   "KB" "MB" "GB" "TB"         decimal: 10^3, 10^6, 10^9, 10^12 (as the ecosystem's
//                               max_shard_size="5GB" means 5 * 10^9 bytes)
// So "5GB" is 5'000'000'000 and "5G" and "5GiB" are 5 * 2^30. nullopt for anything else
// (fractions, negative numbers, other units) or when the value does not fit in 64 bits.
// Zero is returned as zero: callers that need a positive size check it.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

// Binary units: "24 B", "1023 B", "1.50 KiB", "64.0 MiB", "1.50 GiB" (two decimals below
// 10 units, one from 10 up), up to PiB.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

}  // namespace stsw
