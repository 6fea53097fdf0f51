// Text helpers of the header codec: UTF-8 validation, the official JSON string
// escaping, and quoting of untrusted names for error messages. Pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "stsw/utf8.hpp"

namespace stsw::codec {

// UTF-8 validation: stsw/utf8.hpp (public: the CLI uses the same rules).
using stsw::find_invalid_utf8;
using stsw::utf8_sequence_length;

// Appends `text` as a JSON string literal with the official serializer's escaping
// (FORMAT.md section 4): `"` `\` and the control characters are escaped, 0x08 0x0C
// 0x0A 0x0D 0x09 by their short forms and the others as \u00xx (lowercase hex);
// every other byte, including '/', 0x7F and non-ASCII, is copied raw.
void append_json_string(std::string& out, std::string_view text);

// `text` in single quotes for an error message: control characters, quotes and
// backslashes escaped, invalid UTF-8 bytes as \xNN, and cut after `max_bytes`.
[[nodiscard]] std::string quote(std::string_view text, std::size_t max_bytes = 200);

}  // namespace stsw::codec
