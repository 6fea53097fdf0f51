// Tensor-size mixes for the benchmark file: `uniform:SIZE` (equal tensors) and `llm`
// (a transformer checkpoint: two 100+ MB embeddings, many 10-100 MB matrices per layer,
// many tiny norms and biases), scaled to a target file size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "stsw/header.hpp"

namespace stsw::bench {

struct TensorMix {
  enum class Kind { Uniform, Llm } kind = Kind::Llm;
  std::uint64_t tensor_size = 0;  // Uniform: bytes per tensor
};

// "llm" or "uniform:SIZE" (SIZE as parse_size accepts, > 0). nullopt otherwise.
[[nodiscard]] std::optional<TensorMix> parse_mix(std::string_view text) noexcept;
[[nodiscard]] std::string to_string(const TensorMix& mix);

// Tensors whose sizes add up to at most `total_bytes` (and close to it: within one
// transformer layer for llm, within one tensor for uniform); at least one tensor.
// Deterministic for given arguments. Throws Error(InvalidArgument) when total_bytes is
// too small for the mix (under one tensor, or under 1 MiB for llm).
[[nodiscard]] std::vector<TensorSpec> generate_mix(const TensorMix& mix, std::uint64_t total_bytes);

// Sum of the byte sizes of `tensors`.
[[nodiscard]] std::uint64_t total_bytes(const std::vector<TensorSpec>& tensors);

}  // namespace stsw::bench
