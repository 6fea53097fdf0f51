// Sharded checkpoints: parsing and validating model.safetensors.index.json (FORMAT.md 7).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::detail {

struct ShardIndex {
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shard_names;           // distinct, sorted by bytes
  Metadata metadata;  // the index's "metadata" (non-string values as JSON text)
};

// Parses the index text. Throws Error(InvalidIndex) naming `source` for: invalid JSON,
// a root that is not an object, a missing or non-object "weight_map", a non-string
// shard name, an empty weight_map, or a shard name that is not a plain file name.
[[nodiscard]] ShardIndex parse_index(std::string_view text, const std::string& source);

// Throws Error(InvalidIndex) unless `name` is a plain file name: non-empty, no '/', no
// NUL, not "." or "..".
void check_shard_name(std::string_view name, std::string_view tensor, const std::string& source);

// Reads an index file (at most kMaxHeaderSize bytes, else InvalidIndex). Throws Error.
[[nodiscard]] std::string read_index_file(const std::string& path);

}  // namespace stsw::detail
