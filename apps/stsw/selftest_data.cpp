#include "selftest_data.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace stsw::cli {
namespace {

constexpr std::size_t kPoolSpan = std::size_t{16} << 20;  // distinct block start offsets

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::uint64_t element_bytes(DType d) { return bit_size(d) / 8; }

}  // namespace

std::vector<TensorSpec> plan_selftest_tensors(std::uint64_t size) {
  // Small tensors exercise the edges: rank 0, zero size, sizes that are not multiples of
  // 4096 or of a block, a non-ASCII name.
  std::vector<TensorSpec> tensors = {
      {"step", DType::I64, {}},
      {"empty.bias", DType::F32, {0}},
      {"norm.weight", DType::BF16, {4099}},
      {"attention.mask", DType::BOOL, {12345}},
      {"conv.kernel", DType::F16, {3, 5, 7}},
      {"embed.caf\xc3\xa9", DType::U8, {77}},
  };
  std::uint64_t used = 0;
  for (const auto& t : tensors) used += *byte_size(t.dtype, t.shape);

  static constexpr std::array kBig = {DType::F32, DType::BF16, DType::F16, DType::I64,
                                      DType::U8,  DType::I32,  DType::F64, DType::F8_E4M3};
  const std::uint64_t rest = size > used ? size - used : 0;
  // At least one tensor of each dtype, none larger than kMaxSelftestTensor.
  const std::uint64_t count =
      std::max<std::uint64_t>(kBig.size(), (rest + kMaxSelftestTensor - 1) / kMaxSelftestTensor);
  for (std::uint64_t i = 0; i < count; ++i) {
    const DType d = kBig[i % kBig.size()];
    const std::uint64_t elements = rest / count / element_bytes(d);
    constexpr std::uint64_t kCols = 1024;
    std::vector<std::uint64_t> shape = elements >= kCols
                                           ? std::vector<std::uint64_t>{elements / kCols, kCols}
                                           : std::vector<std::uint64_t>{elements};
    tensors.push_back({"layers." + std::to_string(i) + "." + std::string(to_string(d)) + ".weight",
                       d, std::move(shape)});
  }
  return tensors;
}

PatternSource::PatternSource(std::uint64_t seed) : seed_(seed), pool_(kPoolSpan + kBlock) {
  std::uint64_t state = seed;
  for (std::size_t i = 0; i < pool_.size(); i += 8) {
    const std::uint64_t v = splitmix64(state);
    std::memcpy(pool_.data() + i, &v, 8);
  }
}

std::span<const std::byte> PatternSource::block(std::size_t tensor, std::uint64_t k,
                                                std::size_t len) const noexcept {
  std::uint64_t state = seed_ ^ (static_cast<std::uint64_t>(tensor) << 32) ^ k;
  const std::uint64_t start = splitmix64(state) % (kPoolSpan + 1);
  return {pool_.data() + start, len};
}

std::optional<std::uint64_t> PatternSource::first_difference(
    std::size_t tensor, std::span<const std::byte> data) const noexcept {
  for (std::uint64_t off = 0, k = 0; off < data.size(); off += kBlock, ++k) {
    const std::size_t len = std::min<std::uint64_t>(kBlock, data.size() - off);
    const auto want = block(tensor, k, len);
    if (std::memcmp(data.data() + off, want.data(), len) != 0) {
      for (std::size_t i = 0; i < len; ++i) {
        if (data[off + i] != want[i]) return off + i;
      }
    }
  }
  return std::nullopt;
}

}  // namespace stsw::cli
