// Helpers shared by the codec tests: crafting files and checking errors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace stsw::test {

// A file: 8-byte little-endian N, the header text, then `data_size` data bytes.
inline std::string make_file(std::string_view header, std::uint64_t data_size = 0) {
  std::string out(8, '\0');
  const std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out += header;
  for (std::uint64_t i = 0; i < data_size; ++i) out += static_cast<char>(i & 0xFF);
  return out;
}

inline std::span<const std::byte> as_bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

inline ParseOptions strict_options() { return ParseOptions{.strict = true, .source = "t.st"}; }
inline ParseOptions lenient_options(bool allow_partial = false) {
  return ParseOptions{.strict = false, .allow_partial = allow_partial, .source = "t.st"};
}

inline Header parse(const std::string& file, bool strict = true) {
  return parse_file(as_bytes(file), strict ? strict_options() : lenient_options());
}

// The error a parse throws; fails the test if it succeeds.
inline std::optional<Error> parse_error(const std::string& file, const ParseOptions& options) {
  try {
    static_cast<void>(parse_file(as_bytes(file), options));
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "parse succeeded";
  return std::nullopt;
}

inline std::string read_binary(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline std::string vectors_dir() { return STSW_VECTORS_DIR; }

}  // namespace stsw::test

// Expects parsing `file` with `options` to throw Error of `kind` whose what() contains
// `needle` (the culprit: a tensor name, a value, an offset).
#define EXPECT_PARSE_ERROR(file, options, kind, needle)                                \
  do {                                                                                 \
    const auto stsw_err_ = ::stsw::test::parse_error((file), (options));               \
    if (stsw_err_) {                                                                   \
      EXPECT_EQ(::stsw::to_string(stsw_err_->code()), ::stsw::to_string(kind))         \
          << stsw_err_->what();                                                        \
      EXPECT_NE(std::string(stsw_err_->what()).find(needle), std::string::npos)        \
          << "what(): " << stsw_err_->what() << "\nexpected to contain: " << (needle); \
    }                                                                                  \
  } while (0)
