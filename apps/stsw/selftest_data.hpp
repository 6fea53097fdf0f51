// What `stsw selftest` writes: a tensor plan of a requested size (several dtypes, large
// and small, odd, zero-size and rank-0 tensors) and random contents that can be
// regenerated for comparison without keeping a second copy of the file in memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::cli {

// Largest tensor the plan creates: bounds the read-back buffers.
inline constexpr std::uint64_t kMaxSelftestTensor = std::uint64_t{32} << 20;
// Smallest --size accepted.
inline constexpr std::uint64_t kMinSelftestSize = std::uint64_t{1} << 20;

// Tensors whose sizes add up to about `size` bytes (never more); size >= kMinSelftestSize.
[[nodiscard]] std::vector<TensorSpec> plan_selftest_tensors(std::uint64_t size);

// Random bytes for tensor i (in file order) at any offset: block k of a tensor is a slice
// of a random pool chosen by (seed, i, k), so nothing is generated while timing.
class PatternSource {
 public:
  // Bytes per block: each write_block call covers at most one block.
  static constexpr std::size_t kBlock = std::size_t{4} << 20;

  explicit PatternSource(std::uint64_t seed);

  // Block `k` of tensor `tensor`, `len` <= kBlock bytes.
  [[nodiscard]] std::span<const std::byte> block(std::size_t tensor, std::uint64_t k,
                                                 std::size_t len) const noexcept;
  // Offset of the first byte of `data` (all of tensor `tensor`) that differs from what
  // was written, or nullopt when all bytes match.
  [[nodiscard]] std::optional<std::uint64_t> first_difference(
      std::size_t tensor, std::span<const std::byte> data) const noexcept;

 private:
  std::uint64_t seed_;
  std::vector<std::byte> pool_;
};

}  // namespace stsw::cli
