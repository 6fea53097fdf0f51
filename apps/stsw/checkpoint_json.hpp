// JSON documents describing checkpoints (the --json output of inspect and the tensor
// lists other subcommands reuse). Strings are made valid UTF-8 (utf8_safe).
#pragma once

#include <boost/json/object.hpp>
#include <exception>
#include <string>

#include "checkpoint.hpp"

namespace stsw::cli {

// {"name", "dtype", "shape", "data_offsets", "nbytes", "crc32" (integer or null)}
[[nodiscard]] boost::json::object tensor_json(const TensorMeta& t);

// One file: {"path", "file_size", "header_size", "data_offset", "data_alignment",
// "strict_valid", "strict_error" (when not strict), "incomplete", "stsw_version" (the
// Python stsw's "__version__", or null), "metadata" (object or
// null), "tensor_count", "total_bytes", "tensors": [...] (file order, when with_tensors)}.
[[nodiscard]] boost::json::object file_json(const FileHeader& f, bool with_tensors);

// A checkpoint: a single file is file_json(); an index is {"path", "sharded": true,
// "strict_valid", "metadata" (the index's), "tensor_count", "total_bytes", "shards":
// [file_json without tensors], "tensors": [... each with "shard"]}.
[[nodiscard]] boost::json::object checkpoint_json(const Checkpoint& cp);

// {"path", "error": {"kind", "message"}} for a file that could not be read.
[[nodiscard]] boost::json::object error_json(const std::string& path, const std::exception& e);

// The largest power of two (up to 4096) that divides `offset` (4096 for 0).
[[nodiscard]] std::uint64_t alignment_of(std::uint64_t offset) noexcept;

}  // namespace stsw::cli
