// Text helpers shared by the subcommands: one-line error reports on stderr, safe
// rendering of untrusted names and paths, and human-readable sizes and rates.
#pragma once

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

namespace stsw::cli {

// Printable on one line: control characters and invalid UTF-8 become escapes (\n, \x1b,
// \xff), valid UTF-8 stays as it is. Names and paths come from untrusted files.
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

// "1K", "64M", "1G", "2T" (binary units; an optional trailing "iB" or "B"), or plain
// bytes. nullopt for anything else, zero, or an overflowing value.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view s);
// "24 B", "64.0 MiB", "1.50 GiB".
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);
// Decimal megabytes per second ("533.3 MB/s"), the unit disks are rated in.
[[nodiscard]] std::string format_rate(std::uint64_t bytes, double seconds);
// "0x1234abcd".
[[nodiscard]] std::string format_crc(std::uint32_t crc);

}  // namespace stsw::cli
