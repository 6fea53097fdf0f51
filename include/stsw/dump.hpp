// stsw::dump: save a list of in-memory tensors in one call, as one safetensors file or as an
// official sharded checkpoint (FORMAT.md section 7).
//
//   std::vector<stsw::TensorView> ts = {{"w", stsw::DType::F32, {2, 2}, bytes_of_w}, ...};
//   stsw::dump(ts, "out/model.safetensors", {});
//   stsw::DumpOptions o;  o.max_shard_size = 5'000'000'000;
//   stsw::dump(ts, "out/model.safetensors", o);  // model-00001-of-0000N.safetensors + index
//
// Every file goes through a StreamWriter, so each is written atomically and durably (with
// the options' crc32 / align / durable settings); a sharded set is replaced as a whole
// (see dump() below; stsw::convert uses the same sharded-set writer).
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <vector>

#include "stsw/dtype.hpp"
#include "stsw/header.hpp"
#include "stsw/writer.hpp"

namespace STSW_API stsw {

// Bytes made on demand by a TensorView::source: `data` stays valid and unchanged while
// `owner` (which may own it, or be null when something else keeps it alive) is alive.
struct SourcedBytes {
  std::span<const std::byte> data;
  std::shared_ptr<const void> owner;
};

// A named tensor in caller memory. `data` holds exactly shape x dtype bytes and must stay
// alive and unchanged until dump() returns.
//
// Or, for data that must first be made (a contiguous copy of a strided array, a byte-order
// conversion, a device-to-host copy), `source` instead of `data` (which is then ignored):
// dump() calls it when the tensor's turn to be written comes, on the dumping thread (a
// shard thread with parallel_shards > 1: sources of different shards may then run at
// once), at most once per tensor (never for tensors after a failure or a stop), and drops
// the returned `owner` as soon as the writer has staged (copied) all of the bytes, before
// it calls the next source of the same file. So a dump holds at most one sourced tensor
// per file being written, whatever their number. The size check (LengthMismatch) is made
// on the returned bytes; an exception from `source` fails the dump like any other error
// (the previous checkpoint stays; the exception is rethrown). `owner` is dropped on the
// thread that called `source`, also while a failure unwinds (after the writer let go of
// the bytes).
struct TensorView {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::span<const std::byte> data;
  std::function<SourcedBytes()> source = nullptr;
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

// Where a dump stands, passed to DumpControl::on_progress.
struct DumpProgress {
  std::uint64_t bytes_done = 0;   // tensor bytes handed to the writers (copied)
  std::uint64_t bytes_total = 0;  // all tensor bytes of the dump
  std::size_t tensors_done = 0;   // tensors whose bytes were all handed over
  std::size_t tensors_total = 0;
  std::size_t files_done = 0;  // files closed (complete and durable when options.durable)
  std::size_t files_total = 0;
};

// Hooks of a dump: progress reports and cancellation.
struct DumpControl {
  // Called after each block of at most 64 MiB was handed to a writer and after each file
  // is closed; calls never overlap (serialized, also with parallel_shards > 1) and bytes_done
  // never decreases. Runs on the dumping thread; an exception it throws fails the dump
  // like a cancellation does (the exception is rethrown), except from the last report
  // (every file written: the dump is complete, the exception is ignored).
  std::function<void(const DumpProgress&)> on_progress;
  // Checked before each block and before each file and the index: once stop is requested
  // the dump stops staging, aborts the open writers (their files stay untouched), removes
  // the shards this call already put in place, and fails with Errc::Cancelled. A single
  // file at `path` is then exactly as it was (StreamWriter's guarantee); for a sharded set
  // the same failure path as a failed shard applies (see dump() for what stays in place).
  // A stop requested after the last check (the index, or the file's close) does not
  // interrupt the dump: it completes.
  std::stop_token stop;
};

// Writes `tensors` to `path` (a file name such as "dir/model.safetensors"), replacing the
// checkpoint there. One file unless max_shard_size splits the tensors into several shards;
// then the shards go next to `path` (stem: the file name without ".safetensors"), each
// with metadata options.metadata or {"format": "pt"} when unset, and the index
// "<stem>.safetensors.index.json" = {"metadata":{"total_size":...},"weight_map":{...}}.
//
// Shard names: "<stem>-0000i-of-0000N.safetensors", unless the index already at that name
// (the previous set) names any of these N names; then the first generation g = 1, 2, ...
// whose names "<stem>-0000i-of-0000N-g<g>.safetensors" it names none of. So the new shards
// never overwrite a shard of the previous set (re-dumping N shards over N shards alternates
// between the plain names and "-g1"). When the previous index exists but cannot be read or
// parsed, no existing file with a shard name of the stem is overwritten either.
//
// Replacement (a sharded set over anything): every shard is written under its new name
// through a StreamWriter (durable, atomic); then the index is replaced atomically (temporary
// file, fdatasync, rename, directory fsync): at every instant a loader that opens the index
// finds the complete previous set or the complete new one. Then what the new set does not
// use is removed: the shards the previous index named (plain names ending in
// ".safetensors", in this directory), every other file with a shard name of the stem
// (leftovers of crashed dumps), and a single file at `path` (the previous checkpoint when
// it was one file; loaders that find both prefer it to the index). A loader that read the
// previous index just before it was replaced may then find its shards gone: it retries
// from the index (StreamReader opens every shard right after the index).
// Replacement (one file over a set): the file at `path` is replaced atomically; then the
// previous index is removed (durably, first), then the previous shards as above. A crash in
// between leaves the previous set complete beside the new file; the next dump removes it.
// Directories are never removed; failures to remove previous files are logged (warning).
// Space: both sets exist side by side until the index is replaced, so replacing a set needs
// free space for the whole new set (NoSpace otherwise, the previous set intact).
//
// Failure (an error in any tensor, NoSpace, Io, a directory in the way, an exception from
// a caller's callback): the previous checkpoint is byte-identical, index and every shard,
// and the new shards this call wrote are removed. A crash (SIGKILL, power loss with
// `durable`) before the index is replaced leaves the previous set and, at most, complete new
// shards that no index names (removed by the next dump of the same stem). Refused before
// anything is written: a directory at the index name when sharding (InvalidArgument), and
// one file at `path` when the previous index names `path` as one of its shards.
// Thread safety: dumps to different stems may run at once; two dumps to the same stem at
// the same time are not supported (both may pick the same new names): serialise them.
// Throws Error: those of plan_layout and StreamWriter, and LengthMismatch when a view's data
// size differs from shape x dtype.
DumpResult dump(const std::vector<TensorView>& tensors, const std::string& path,
                const DumpOptions& options = {});

// dump() with progress reports and cancellation (see DumpControl).
DumpResult dump(const std::vector<TensorView>& tensors, const std::string& path,
                const DumpOptions& options, const DumpControl& control);

// The asynchronous form: runs dump() on a thread of its own and returns at once. The
// future holds the result or the Error (Cancelled after control.stop was requested).
// The tensors' memory must stay alive and unchanged until the future is ready; the
// vector itself (names, shapes, views), path, options and control are copied. As with
// std::async, destroying the future before it is ready waits for the dump to finish
// (request a stop first to make that quick).
[[nodiscard]] std::future<DumpResult> dump_async(std::vector<TensorView> tensors, std::string path,
                                                 DumpOptions options = {},
                                                 DumpControl control = {});

}  // namespace stsw
