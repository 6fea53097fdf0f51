// Sharded checkpoints (FORMAT.md section 7): how tensors are split, how shards and the
// index are named, and the index JSON. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace stsw::writer {

// Splits tensors of `sizes` bytes greedily in the given order: a shard takes tensors while
// its total stays <= max_shard_size; a tensor larger than the limit gets a shard of its
// own. Returns the tensor indices of each shard (one empty shard for no tensors).
[[nodiscard]] std::vector<std::vector<std::size_t>> plan_shards(
    const std::vector<std::uint64_t>& sizes, std::uint64_t max_shard_size);

// "model.safetensors" -> "model"; a name without that suffix is kept whole.
[[nodiscard]] std::string shard_stem(const std::string& file_name);

// "<stem>-00001-of-00005.safetensors" for index 0 of 5 (1-based, at least 5 digits);
// generation g > 0 gives "<stem>-00001-of-00005-g<g>.safetensors" (the sharded-set writer
// uses it when the previous set's index names the plain names: include/stsw/dump.hpp).
[[nodiscard]] std::string shard_file_name(const std::string& stem, std::size_t index,
                                          std::size_t count, unsigned generation = 0);

// True when `name` is a shard name of `stem` as shard_file_name makes them, for any index,
// count and generation: "<stem>-<5+ digits>-of-<5+ digits>[-g<digits>].safetensors". The
// digits contain no '-', so the name of one stem is never a shard name of another.
[[nodiscard]] bool is_shard_file_name(const std::string& stem, const std::string& name);

// "<stem>.safetensors.index.json".
[[nodiscard]] std::string index_file_name(const std::string& stem);

// The index: {"metadata": {"total_size": N}, "weight_map": {tensor: shard file, ...}}, keys
// sorted by bytes, indented by two spaces like the ecosystem's writer, newline-terminated.
[[nodiscard]] std::string index_json(std::uint64_t total_size,
                                     std::vector<std::pair<std::string, std::string>> weight_map);

}  // namespace stsw::writer
