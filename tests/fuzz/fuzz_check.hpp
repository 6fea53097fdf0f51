// The header fuzzer's body, shared by the libFuzzer target (clang) and the corpus
// replay test (any compiler).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace stsw::fuzz {

// Parses `data` as a whole file, strictly and leniently, re-encodes successful
// parses and parses the result again. Returns an empty string when every invariant
// holds, otherwise what broke. Errors other than stsw::Error propagate (a crash to
// the fuzzer).
[[nodiscard]] std::string check_one_input(const std::uint8_t* data, std::size_t size);

}  // namespace stsw::fuzz
