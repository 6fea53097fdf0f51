// Reading what a checkpoint declares, without touching its data: the header of one
// .safetensors file (strict parse first, lenient as a fallback) or a sharded
// model.safetensors.index.json with the headers of all its shards.
//
// Reads at most 8 + kMaxHeaderSize bytes per file; never follows the data region.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::cli {

struct FileHeader {
  std::string path;
  std::uint64_t file_size = 0;
  Header header;  // the strict parse when strict_valid, else the lenient one
  bool strict_valid = false;
  std::string strict_error;  // why the official loader refuses it ("InvalidOffset: ...")
};

// Throws stsw::Error when neither a strict nor a lenient parse accepts the file; the
// error is the strict one (the official loader's kind and order), except IncompleteFile
// for an unfinished Python stsw file when !allow_partial. Missing files,
// directories and special files are Io errors naming the path. Partial ("__incomplete__")
// files are accepted when `allow_partial`.
[[nodiscard]] FileHeader load_file_header(const std::string& path, bool allow_partial = true);

// Sharded index files are recognised by name: "*.json".
[[nodiscard]] bool is_index_path(const std::string& path);

struct Checkpoint {
  std::string path;  // what the user named (file or index)
  bool sharded = false;
  boost::json::object index_metadata;  // the index's "metadata" object (sharded only)
  std::vector<FileHeader> shards;      // one entry when not sharded; sorted by file name

  [[nodiscard]] bool strict_valid() const noexcept;
  [[nodiscard]] std::size_t tensor_count() const noexcept;
  [[nodiscard]] std::uint64_t tensor_bytes() const noexcept;
};

// Loads a single file or an index and every shard it names. The index is read with the
// library's rules (stsw/shard_index.hpp: parse_index, shard_path, check_shards_match_index),
// the ones StreamReader::open applies: errors (bad JSON, an empty weight_map, a "metadata"
// that is not an object, a shard name with a path component, a missing shard, a tensor
// absent from its shard or held by a shard that the weight_map does not list it for) are
// Errc::InvalidIndex naming the index and the shard/tensor.
[[nodiscard]] Checkpoint load_checkpoint(const std::string& path, bool allow_partial = true);

}  // namespace stsw::cli
