// Reading a torch.save zip checkpoint: finds "<prefix>/data.pkl", runs the restricted
// unpickler on it, picks the state dict (optionally nested under --key) and resolves every
// tensor to a strided view of its storage entry "<prefix>/data/<key>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "convert/gather.hpp"
#include "convert/zip_reader.hpp"
#include "stsw/dtype.hpp"

namespace stsw::cvt {

struct TorchTensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  StridedView view;  // in elements of dtype, over the storage entry's bytes
  const ZipEntry* storage = nullptr;
};

struct TorchCheckpoint {
  std::string prefix;  // the archive folder, e.g. "archive"
  bool big_endian = false;
  std::vector<TorchTensor> tensors;   // in the state dict's order
  std::vector<std::string> warnings;  // skipped entries
};

// The largest data.pkl read into memory.
inline constexpr std::uint64_t kMaxPickleSize = std::uint64_t{256} << 20;

// `key_path` selects a nested dict ("model", "state_dict", or a dotted path such as
// "module.model"; an exact key wins over splitting at dots); empty: the top-level object.
// Throws Error: Unsupported (a refused global/opcode, a dtype safetensors cannot hold),
// InvalidArgument (a corrupt archive or pickle, a tensor outside its storage, no tensors),
// UnknownTensor (key_path not found).
[[nodiscard]] TorchCheckpoint read_torch_checkpoint(const ZipArchive& zip,
                                                    std::string_view key_path);

// True when the zip holds a "<prefix>/data.pkl" entry.
[[nodiscard]] bool is_torch_zip(const ZipArchive& zip) noexcept;

// True when the bytes start like a pre-1.6 (legacy, non-zip) torch.save file: a raw
// pickle (0x80 PROTO) or a tar archive.
[[nodiscard]] bool looks_like_legacy_torch(std::span<const std::byte> prefix) noexcept;

}  // namespace stsw::cvt
