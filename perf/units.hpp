// Byte-size parsing and human-readable formatting for the harness's options and tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "stsw/units.hpp"

namespace stsw::bench {

// Sizes are parsed and formatted by the library's stsw::parse_size and stsw::format_bytes
// (stsw/units.hpp: "4G" and "4GiB" binary, "4GB" decimal), the same as the CLI's.
using stsw::format_bytes;
using stsw::parse_size;

// Short form for identifiers and table columns: "4G", "8M", "64K", "1536K", "100".
[[nodiscard]] std::string format_size_short(std::uint64_t bytes);

}  // namespace stsw::bench
