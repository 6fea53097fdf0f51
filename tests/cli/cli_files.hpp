// Files for the CLI tests: scratch directories, safetensors files built with the codec
// (optionally with crc32 fields), raw byte files, and JSON-lines output parsing.
#pragma once

#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/header.hpp"
#include "support/temp_dir.hpp"
#include "support/tensor_data.hpp"

namespace stsw::test {

// TempDir: tests/support/temp_dir.hpp. TensorData: tests/support/tensor_data.hpp.

// A tensor with deterministic contents of the right size: byte i is i * 7 + seed.
[[nodiscard]] TensorData make_tensor(std::string name, DType dtype,
                                     std::vector<std::uint64_t> shape, unsigned seed = 1);

// Writes a safetensors file with the tensors in the given order, contiguous from 0, with
// each tensor's zlib CRC-32 as "crc32" when with_crc. Returns the data offset (8 + N).
std::uint64_t write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                                const std::optional<Metadata>& metadata, bool with_crc,
                                std::uint64_t align = 8);

// Writes a sharded checkpoint in `dir`: shards "model-0000i-of-0000n.safetensors", each with
// the tensors of one group (with CRCs), and "model.safetensors.index.json". Returns the
// index path.
std::string write_sharded(const std::string& dir,
                          const std::vector<std::vector<TensorData>>& shards);

void write_file(const std::string& path, std::string_view bytes);
[[nodiscard]] std::string read_file(const std::string& path);
// XORs one byte of the file with 0xFF.
void flip_byte(const std::string& path, std::uint64_t offset);
// The 8-byte little-endian length prefix followed by `header` (no data).
[[nodiscard]] std::string with_length_prefix(std::uint64_t n, std::string_view rest);

// Parses stdout holding one JSON document per line; fails the test on invalid JSON.
[[nodiscard]] std::vector<boost::json::value> parse_json_lines(const std::string& out);

// The official loader's error kinds plus stsw's own (stsw::Errc names).
[[nodiscard]] bool is_error_kind(std::string_view name);

}  // namespace stsw::test
