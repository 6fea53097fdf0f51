// Byte-size parsing and human-readable formatting for the harness's options and tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace stsw::bench {

// "4096", "64K", "64KiB", "8M", "8MiB", "4G", "4GiB", "1T": binary multiples (K = 1024);
// "4GB" and "500MB" are decimal (GB = 1e9). nullopt for anything else or on overflow.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text) noexcept;

// "4 GiB", "8 MiB", "512 B", "1.5 GiB": binary units, at most one decimal.
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);

// Short form for identifiers and table columns: "4G", "8M", "64K", "1536K", "100".
[[nodiscard]] std::string format_size_short(std::uint64_t bytes);

}  // namespace stsw::bench
