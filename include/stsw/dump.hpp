// stsw::dump: save a list of in-memory tensors in one call, as one safetensors file or as an
// official sharded checkpoint (FORMAT.md section 7).
//
//   std::vector<stsw::TensorView> ts = {{"w", stsw::DType::F32, {2, 2}, bytes_of_w}, ...};
//   stsw::dump(ts, "out/model.safetensors", {});
//   stsw::DumpOptions o;  o.max_shard_size = 5'000'000'000;
//   stsw::dump(ts, "out/model.safetensors", o);  // model-00001-of-0000N.safetensors + index
//
// Every file goes through a StreamWriter, so each is written atomically and durably (with
// the options' crc32 / align / durable settings).
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/header.hpp"
#include "stsw/writer.hpp"

namespace STSW_API stsw {

// A named tensor in caller memory. `data` holds exactly shape x dtype bytes and must stay
// alive and unchanged until dump() returns.
struct TensorView {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data;
};

struct DumpOptions : WriterOptions {
  // Canonical: the official writer's order (dtype rank, then name); Keep: the order given.
  LayoutOrder order = LayoutOrder::Canonical;
  // Shard when the tensors hold more than this many bytes: greedy, in the given order, a
  // tensor larger than the limit gets a shard of its own. nullopt: always one file.
  // The ecosystem's default is 5'000'000'000.
  std::optional<std::uint64_t> max_shard_size;
  // Shards written at the same time. All shards share the directory of `path`, so more
  // than 1 helps only when that directory spans several devices (RAID, network file
  // systems); each concurrent shard holds its own staging buffers.
  unsigned parallel_shards = 1;
};

struct DumpResult {
  std::vector<std::string> files;    // the safetensors files written, in shard order
  std::optional<std::string> index;  // the index file, when sharded
};

// Writes `tensors` to `path` (a file name such as "dir/model.safetensors").
// One file unless max_shard_size splits the tensors into several shards; then the shards
// are named "<stem>-00001-of-0000N.safetensors" next to `path` (stem: the file name without
// ".safetensors"), each with metadata options.metadata or {"format": "pt"} when unset, and
// "<stem>.safetensors.index.json" = {"metadata":{"total_size":...},"weight_map":{...}} is
// written last, after every shard is durable. An index already at that name is removed
// before the first shard is replaced, so a crash never leaves an index that points at
// missing or rewritten data. When a shard or the index fails (NoSpace, Io), the shards this
// call already put in place are removed, so a failed dump leaves no partial set. Throws
// Error: those of plan_layout and StreamWriter, and LengthMismatch when a view's data size
// differs from shape x dtype.
DumpResult dump(const std::vector<TensorView>& tensors, const std::string& path,
                const DumpOptions& options = {});

}  // namespace stsw
