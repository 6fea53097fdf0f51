// Step 5 of the official checks: the header's JSON, read with serde_json's rules as
// the official loader applies them (FORMAT.md section 2), into tensor entries in JSON
// order. The checks on offsets and sizes (steps 6-10) are done by the caller.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::codec {

struct RawHeader {
  std::vector<TensorMeta> tensors;   // in JSON order, duplicate names kept
  std::optional<Metadata> metadata;  // nullopt: absent or null
  // Lenient mode only: the Python stsw's top-level extras.
  std::optional<std::string> version;  // "__version__" with a string value
  std::optional<bool> incomplete;      // "__incomplete__" with a boolean value
  // Set when "__metadata__" held a tensor field ("dtype", "shape", "data_offsets")
  // with a non-string value: a tensor named "__metadata__" (stsw reports InvalidName).
  std::optional<std::string> metadata_tensor_field;
  // Lenient mode only: a dtype was given as {"F16": {}}, which the official loader refuses
  // ("invalid type: map, expected unit"); such a file is not strict-valid.
  bool dtype_as_map = false;
};

// Parses the N header bytes (already known to be valid UTF-8). Accepts exactly what
// serde_json accepts for the official HashMetadata: one object, surrounded by JSON
// whitespace; "__metadata__" at most once, null or an object of strings (duplicate
// keys: last wins); every other key a tensor entry, given as an object (unknown
// fields ignored, duplicate known fields refused) or as a 3-element array; dtype as
// a string or a single-key object; shape and data_offsets as arrays of u64
// literals; at most kMaxJsonDepth - 1 nested containers; no number that overflows a
// double anywhere. stsw adds: "crc32" must be a u32 literal; in lenient mode
// "__version__" (string) and "__incomplete__" (boolean) are read instead of being
// tensors. Throws Error(InvalidHeaderDeserialization) naming `source`, the byte
// offset and the tensor.
[[nodiscard]] RawHeader parse_header_json(std::string_view json, bool lenient,
                                          std::string_view source);

}  // namespace stsw::codec
