// What each input reader hands the convert driver: the tensors to write (name, dtype,
// shape) and, for each, a producer that streams its C-order little-endian bytes into a
// ByteSink. The plan owns the open inputs the producers read from.
//
// Two ways to a tensor's bytes. `produce` (every input) pushes them through the writer's
// zero-copy windows on the calling thread, one synchronous piece at a time. `range` (a
// safetensors input, where the bytes already are the output's bytes) hands the driver a
// byte range of a StreamReader instead: the driver then copies it with asynchronous reads
// overlapping the writes (range_copy.hpp) and never calls `produce`. A step that rewrites
// the bytes (a --dtype cast) wraps `produce` and clears `range`.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "convert/gather.hpp"
#include "stsw/convert.hpp"
#include "stsw/dtype.hpp"
#include "stsw/header.hpp"
#include "stsw/reader.hpp"

namespace stsw::cvt {

// A tensor stored as one contiguous run of a file that `reader` opened.
struct ReaderRange {
  std::shared_ptr<const StreamReader> reader;
  std::string name;               // the tensor's name in `reader`
  std::uint64_t file_offset = 0;  // its first byte's offset in its file (O_DIRECT alignment)
  // Checks the CRC-32 of all of the tensor's bytes as copied against the stored value
  // (throws CrcMismatch naming the file and tensor); empty when the input stores none.
  std::function<void(std::uint32_t)> check_crc;
};

struct SourceTensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  // Writes exactly the tensor's byte size into the sink, in order. May be called once.
  std::function<void(ByteSink&)> produce;
  // Set: the driver may copy the tensor from this range instead of calling `produce`.
  std::optional<ReaderRange> range;
  // Tensors of one plan with the same non-empty key hold the same bytes (one storage,
  // the same offset, shape, strides and dtype: tied weights); empty: not known to alias.
  std::string alias_key;
};

struct SourcePlan {
  ConvertFormat format = ConvertFormat::Auto;
  std::vector<SourceTensor> tensors;  // the input's order
  std::vector<std::string> warnings;
  std::optional<Metadata> metadata;               // a safetensors input's own __metadata__
  std::vector<std::shared_ptr<void>> keep_alive;  // files and archives the producers use
};

// Settings the readers need from ConvertOptions.
struct SourceOptions {
  std::string key;
  std::string temp_dir;
  GatherOptions gather;
  std::shared_ptr<Engine> engine;
};

[[nodiscard]] SourcePlan open_torch(const std::string& path, const SourceOptions& options);
[[nodiscard]] SourcePlan open_npy(const std::string& path, const SourceOptions& options);
[[nodiscard]] SourcePlan open_npz(const std::string& path, const SourceOptions& options);
[[nodiscard]] SourcePlan open_safetensors(const std::string& path, const SourceOptions& options);

// Hugging Face layouts (hf_layout.cpp). resolve_model_dir: nullopt when `input` is not a
// directory, else the checkpoint transformers would load from it (model.safetensors,
// model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json, in this
// order); InvalidArgument when it holds none. is_torch_index: a ".json" index whose first
// shard is a torch.save zip. open_torch_index: every shard through open_torch, checked
// against the weight_map (InvalidIndex for a missing shard or tensor).
[[nodiscard]] std::optional<std::string> resolve_model_dir(const std::string& input);
[[nodiscard]] bool is_torch_index(const std::string& index_path);
[[nodiscard]] SourcePlan open_torch_index(const std::string& index_path,
                                          const SourceOptions& options);

// Detects the input format from its name and first bytes. Throws Error: Unsupported for
// legacy torch files, InvalidArgument for unrecognized data.
[[nodiscard]] ConvertFormat detect_format(const std::string& path);

// Inflates a whole zip entry into an anonymous temporary file in `dir` (bounded memory).
class ZipArchive;
struct ZipEntry;
[[nodiscard]] std::shared_ptr<InputFile> inflate_to_temp(const ZipArchive& zip,
                                                         const ZipEntry& entry,
                                                         const std::string& dir);

}  // namespace stsw::cvt
