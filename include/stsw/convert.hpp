// stsw::convert: safe, streaming import of PyTorch and NumPy checkpoints (and re-layout of
// safetensors files) into stsw safetensors files.
//
//   stsw::ConvertOptions o;
//   o.key = "model";                        // {"model": {...}, "optimizer": {...}}
//   stsw::ConvertResult r = stsw::convert("ckpt.pt", "model.safetensors", o);
//   for (const auto& w : r.warnings) std::cerr << w << "\n";  // skipped non-tensor entries
//
// Inputs (detected from the file's first bytes):
//   - PyTorch zip checkpoints written by torch.save since 1.6 (.pt, .pth, .bin), ZIP64
//     included. data.pkl is decoded by a restricted unpickler that never imports or calls
//     anything: it knows dicts, OrderedDicts, lists, tuples, strings, numbers, None and
//     the tensor / parameter rebuilders and storage classes of torch. Any other global,
//     any opcode that would run code, and unknown opcodes are refused (Errc::Unsupported,
//     naming the global or opcode). Pre-1.6 (non-zip) checkpoints are refused.
//     Tensors sharing a storage, views, non-contiguous and expanded tensors are written
//     as contiguous C-order copies, each under its own name, except identical aliases
//     (tied weights), stored once (ConvertOptions::deduplicate_shared). Non-tensor entries are
//     skipped with a warning.
//   - NumPy .npy and .npz (stored or deflated members): numeric dtypes only; Fortran-order
//     arrays are written in C order and big-endian arrays byte-swapped. An object array's
//     pickle is never read. Names: the file stem (.npy), the member name without ".npy"
//     (.npz, folders kept).
//   - safetensors files (strict or Python stsw 1.0 files) and sharded index files
//     (a path ending in ".json"): re-laid out, CRCs added. Stored crc32 values are checked
//     while copying (CrcMismatch).
//   - Hugging Face layouts: a sharded PyTorch set (pytorch_model.bin.index.json, whose
//     shards are torch.save zips: every shard is read, checked against the weight_map), and
//     a model directory (the checkpoint transformers would load; see ConvertResult::input).
//   - An .npz with no members converts to a file with no tensors; 0-d arrays stay 0-d.
//
// Output goes through StreamWriter (atomic replace, CRC-32 per tensor by default), one
// file, or shards "<stem>-0000i-of-0000N.safetensors" plus "<stem>.safetensors.index.json"
// when max_shard_size splits the tensors, named and replaced exactly as stsw::dump does
// (include/stsw/dump.hpp: a loader opening the index finds the complete previous or the
// complete new set; shards the new set does not name are removed afterwards). Converting a
// sharded set onto its own stem is safe: the new shards never take the input's names, and
// the input's files are removed only after the new index is in place. An input that merely
// has a shard name of the output's stem (no index names it) is never overwritten or removed. Data
// flows from the input to the output through bounded buffers: memory does not grow with the
// checkpoint's size (see gather limits in ConvertOptions; a safetensors input's tensors that
// no --dtype cast rewrites are copied through a ring of up to 4 of the engine's staging
// buffers (the writer gets the rest of the pool's registered set, so the copy adds no
// memory to the pool's), with reads of the
// input in flight while the output is written, and its stored CRCs checked against the
// CRCs computed while copying). A failed conversion (a CrcMismatch in
// any tensor included) leaves `output` untouched: the previous file or set byte-identical and no
// new shard behind. Converting a file onto itself (the same name, a hard link or a symlink
// to it) is refused with InvalidArgument before anything is written, unless the input is
// safetensors: that input is read in full before the output replaces it, so the in-place
// re-layout is safe.
//
// Errors: stsw::Error. Unsupported (refused pickle constructs, dtypes safetensors cannot
// hold, legacy formats), InvalidArgument (corrupt or truncated inputs, absurd sizes; the
// message names the file, entry and offset), UnknownTensor (--key not found), CrcMismatch,
// Io / NoSpace, and those of StreamWriter and StreamReader.
//
// Thread safety: convert() may run concurrently on different outputs; callbacks run on
// the calling thread.
#pragma once

#include "stsw/export.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stsw/engine.hpp"
#include "stsw/header.hpp"

namespace STSW_API stsw {

enum class ConvertFormat {
  Auto,         // detect from the first bytes (and ".json" for sharded indexes)
  Torch,        // torch.save zip checkpoint
  Npy,          // one NumPy array
  Npz,          // a zip of .npy members
  Safetensors,  // a safetensors file or a sharded index
};

[[nodiscard]] std::string_view to_string(ConvertFormat format) noexcept;  // "torch", ...

struct ConvertProgress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::size_t tensors_done = 0;
  std::size_t tensors_total = 0;
  std::string_view tensor;  // the tensor being written (valid during the call)
};

struct ConvertOptions {
  ConvertFormat format = ConvertFormat::Auto;
  // A nested state dict: "model", "state_dict", or a dotted path ("module.model"; at each
  // level the longest key matching a prefix of the path wins). Torch inputs only.
  std::string key;
  // Output layout and checksums (see WriterOptions / DumpOptions).
  bool crc32 = true;
  std::uint64_t align = 64;
  LayoutOrder order = LayoutOrder::Canonical;
  std::optional<std::uint64_t> max_shard_size;
  bool durable = true;
  IoMode io_mode = IoMode::Auto;
  std::shared_ptr<Engine> engine;  // null: Engine::shared()
  // "__metadata__": a safetensors input's own metadata (when keep_input_metadata), then
  // these entries (overriding), then "format": "pt" unless a "format" entry exists.
  Metadata metadata;
  bool keep_input_metadata = true;
  // Where compressed entries that need random access (a Fortran-order array in a deflated
  // .npz member, a compressed torch storage) are inflated: an anonymous temporary file
  // in this directory. Empty: the output's directory.
  std::string temp_dir;
  // Gathering non-contiguous tensors: output produced per step and the largest source
  // span read at once (the memory bound of a gather is about their sum).
  std::size_t gather_chunk_bytes = std::size_t{4} << 20;
  std::size_t gather_window_bytes = std::size_t{16} << 20;
  // Tensors holding the same bytes (tied weights: one torch storage viewed identically
  // under several names) are stored once, as the official safetensors `save_model` does:
  // the lexicographically first name is kept, and each dropped name is recorded in
  // "__metadata__" as "<dropped>": "<kept>" (unless that key is already given), which is
  // what `load_model` reads to re-tie them. Views of a shared storage that are not
  // identical are still written as separate copies (save_model would drop them too, relying
  // on the model to re-tie; a converter has no model). false: every name gets its own copy.
  bool deduplicate_shared = true;
  // Casts every floating tensor (F64, F32, F16, BF16) to this dtype while it streams:
  // F32, F16 or BF16 (else InvalidArgument). Rounding to nearest even; integer, bool,
  // complex and F8 tensors are written unchanged. nullopt: dtypes are kept.
  std::optional<DType> dtype;
  // Called for each warning (skipped entries, trailing bytes); also listed in the result.
  std::function<void(std::string_view)> on_warning;
  // Called as tensors are written (after each tensor and about every 64 MiB).
  std::function<void(const ConvertProgress&)> on_progress;
};

struct ConvertResult {
  ConvertFormat format = ConvertFormat::Auto;  // what the input was detected as
  // The file read: `input` itself, or, when `input` is a model directory, the checkpoint
  // transformers would load from it (model.safetensors, model.safetensors.index.json,
  // pytorch_model.bin, pytorch_model.bin.index.json: the first present).
  std::string input;
  // Names stored once (deduplicate_shared): {dropped name, kept name}, sorted.
  std::vector<std::pair<std::string, std::string>> aliases;
  std::vector<std::string> files;    // safetensors files written, in shard order
  std::optional<std::string> index;  // the index file, when sharded
  std::size_t tensors = 0;
  std::uint64_t bytes = 0;  // tensor bytes written
  std::vector<std::string> warnings;
};

// Converts `input` to `output` (e.g. "out/model.safetensors"). See the overview above.
[[nodiscard]] ConvertResult convert(const std::string& input, const std::string& output,
                                    const ConvertOptions& options = {});

}  // namespace stsw
