// The whole-file fuzzer's body, shared by the libFuzzer target (clang) and the corpus
// replay test (any compiler): the input is a complete file, opened through StreamReader
// (strict, lenient, lenient with partial files allowed) and read through every path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace stsw::fuzz {

// Writes `data` to an in-memory file (memfd) and opens it with StreamReader in three
// modes on a small threads-backend engine; for each reader that opens: verify(),
// read_into and get_slice of every tensor, for_each. Returns an empty string when every
// invariant holds (open refuses with a format kind only; verify never throws; read bytes
// equal the input's bytes; CRC outcomes agree between verify, read_into, get_slice and
// for_each), otherwise what broke. Exceptions other than stsw::Error propagate (a crash
// to the fuzzer). Not thread-safe (one shared scratch file).
[[nodiscard]] std::string check_file_input(const std::uint8_t* data, std::size_t size);

}  // namespace stsw::fuzz
