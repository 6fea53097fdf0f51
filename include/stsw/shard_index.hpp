// Sharded checkpoints: model.safetensors.index.json (FORMAT.md 7). The one set of index
// rules: the reader (StreamReader::open on a ".json" path) and the stsw CLI (inspect,
// verify) both load indexes through these functions, so they accept and refuse the same.
//
// All functions are pure or read one file; they hold no state and are safe to call from
// any thread. Every refusal is Error(Errc::InvalidIndex) naming `source` (the index path),
// the tensor and the shard involved.
#pragma once

#include "stsw/export.hpp"

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/header.hpp"

namespace STSW_API stsw {

struct ShardIndex {
  std::map<std::string, std::string> weight_map;  // tensor -> shard file name
  std::vector<std::string> shard_names;           // distinct, sorted by bytes
  Metadata metadata;  // the index's "metadata" (non-string values as JSON text)
  // The same "metadata" object as compact JSON text, values keeping their JSON types;
  // empty when the index has no "metadata" (or null).
  std::string metadata_json;
};

// Parses the index text. Throws Error(InvalidIndex) naming `source` for: invalid JSON,
// a root that is not an object, a missing or non-object "weight_map", a non-string
// shard name, an empty weight_map, a shard name that is not a plain file name, or a
// "metadata" that is present but neither an object nor null.
[[nodiscard]] ShardIndex parse_index(std::string_view text, const std::string& source);

// Throws Error(InvalidIndex) unless `name` is a plain file name: non-empty, no '/', no
// NUL, not "." or "..".
void check_shard_name(std::string_view name, std::string_view tensor, const std::string& source);

// Reads an index file: a regular file of at most kMaxHeaderSize bytes (else InvalidIndex;
// a directory is Io EISDIR, a FIFO or device InvalidArgument). Throws Error.
[[nodiscard]] std::string read_index_file(const std::string& path);

// The path of shard `name` (in the index's directory). Throws Error(InvalidIndex)
// naming a tensor it holds when the file does not exist.
[[nodiscard]] std::string shard_path(const ShardIndex& index, const std::string& name,
                                     const std::string& source);

// Checks the shards' headers against the weight map; headers[i] is the header of
// index.shard_names[i]. Refuses (InvalidIndex): a tensor in two shards, a listed tensor
// missing from its shard or found in another one, and a tensor a shard holds that the
// weight map does not list.
void check_shards_match_index(const ShardIndex& index, const std::vector<const Header*>& headers,
                              const std::string& source);

}  // namespace stsw
