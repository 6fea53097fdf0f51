// Text helpers shared by the subcommands: one-line error reports on stderr, safe
// rendering of untrusted names and paths, and human-readable sizes and rates.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "stsw/units.hpp"

namespace stsw::cli {

// Printable on one line: control characters and invalid UTF-8 become escapes (\n, \x1b,
// \xff), valid UTF-8 stays as it is. Names and paths come from untrusted files. Valid
// means as the header codec validates it (stsw::utf8_sequence_length, stsw/utf8.hpp).
[[nodiscard]] std::string printable(std::string_view s);

// Valid UTF-8 for JSON output: every invalid byte becomes U+FFFD.
[[nodiscard]] std::string utf8_safe(std::string_view s);

// The error kind's official name ("InvalidOffset") for a stsw::Error, "Error" otherwise.
[[nodiscard]] std::string error_kind(const std::exception& e);
// "<Kind>: <message>" with `path` inserted when the message does not already name it.
[[nodiscard]] std::string error_text(const std::exception& e, std::string_view path = {});

// Writes "stsw <command>: <Kind>: <message>" as one line on stderr.
void print_error(std::string_view command, const std::exception& e, std::string_view path = {});
void print_error(std::string_view command, std::string_view message);

// Sizes are parsed and formatted by the library's stsw::parse_size and
// stsw::format_bytes (stsw/units.hpp: "5GB" is 5 * 10^9, "5G" and "5GiB" 5 * 2^30).
// Decimal megabytes per second ("533.3 MB/s"), the unit disks are rated in.
[[nodiscard]] std::string format_rate(std::uint64_t bytes, double seconds);
// "0x1234abcd".
[[nodiscard]] std::string format_crc(std::uint32_t crc);

}  // namespace stsw::cli
