// Page-cache residency probe used by ReadMode::Auto.
#pragma once

#include <cstdint>
#include <optional>

namespace stsw::detail {

// The fraction (0..1) of sampled pages of [offset, offset + length) of `fd` that are in
// the page cache, from mincore(2) on a temporary mapping: no data is read, no page is
// faulted in. Samples up to 64 windows of up to 1 MiB spread evenly over the range.
// nullopt when the probe is impossible (mmap or mincore failed, empty range).
[[nodiscard]] std::optional<double> resident_fraction(int fd, std::uint64_t offset,
                                                      std::uint64_t length) noexcept;

// Auto picks buffered reads when at least this fraction is resident.
inline constexpr double kWarmFraction = 0.5;

}  // namespace stsw::detail
