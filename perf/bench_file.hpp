// The benchmark's checkpoint: the tensor list (from a mix), its layout, the official
// writer's header for the naive baselines, and a pool of pre-faulted source bytes the
// tensors' contents are taken from.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "memory.hpp"
#include "stsw/header.hpp"
#include "stsw/tensor_meta.hpp"

namespace stsw::bench {

struct BenchFile {
  std::vector<TensorMeta> tensors;  // file order, offsets relative to the data region
  std::string official_header;      // 8-byte length + JSON, align 8, no crc32 (official)
  std::uint64_t data_size = 0;      // sum of tensor bytes
  std::uint64_t largest = 0;        // the largest tensor's bytes

  // File size of the official layout (what the naive writer produces).
  [[nodiscard]] std::uint64_t official_file_size() const noexcept {
    return official_header.size() + data_size;
  }
};

// Lays out `specs` in canonical order with {"format": "pt"} metadata.
[[nodiscard]] BenchFile make_bench_file(const std::vector<TensorSpec>& specs);

// Source bytes for the tensors: one pre-faulted, huge-page, pseudo-random pool at least
// as large as the largest tensor (and up to `pool_limit`); each tensor reads a window of
// it, so different tensors see different bytes without the pool holding the whole file.
class TensorSource {
 public:
  TensorSource(const BenchFile& file, std::uint64_t pool_limit);
  // The bytes of `t` (stable for the source's lifetime).
  [[nodiscard]] std::span<const std::byte> bytes(const TensorMeta& t) const noexcept;
  [[nodiscard]] std::span<const std::byte> pool() const noexcept { return buf_.span(); }

 private:
  HugeBuffer buf_;
};

// N from the first 8 bytes of `path` (little endian); throws stsw::Error(Io) when the
// file cannot be read.
[[nodiscard]] std::uint64_t read_header_length(const std::string& path);

}  // namespace stsw::bench
