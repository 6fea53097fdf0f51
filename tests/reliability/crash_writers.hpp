// The writers the crash harness kills: two generations of a single file (StreamWriter) and
// of a sharded set (stsw::dump), with deterministic contents, small enough (~2 MiB) that a
// child writes one in about 100 ms, and written in 256 KiB requests so kills land in every
// phase.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::reliability {

// The tensors of generation `gen` (0 or 1). Single file: generation 1 has one more tensor
// (a different size). Sharded: the same layout in both, so the same shard count: each dump
// takes the names the previous index does not use (plain, then "-g1", alternately).
[[nodiscard]] std::vector<TensorSpec> generation_specs(int gen, bool sharded);
// The bytes of tensor `t` in generation `gen`.
[[nodiscard]] std::vector<std::byte> tensor_bytes(const TensorSpec& t, int gen);

// In a child: StreamWriter replacing dir/model.safetensors with generation `gen`, durable;
// writes one byte to `marker_fd` just before close(). Throws Error.
void write_single(const std::string& dir, int gen, int marker_fd);
// In a child: stsw::dump of generation `gen` into dir/model-0000k-of-00003[-g1].safetensors
// and dir/model.safetensors.index.json, durable. Throws Error.
void write_sharded(const std::string& dir, int gen, int marker_fd);

// In a child: stsw::dump of the single-file generation `gen` (generation_specs(gen, false))
// into dir/model.safetensors, durable: one file replacing a sharded set. Throws Error.
void dump_single(const std::string& dir, int gen, int marker_fd);

}  // namespace stsw::reliability
