#include "units.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

namespace stsw::bench {

std::string format_size_short(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> kNames = {"", "K", "M", "G", "T"};
  std::size_t unit = 0;
  while (unit + 1 < kNames.size() && bytes >= 1024 && bytes % 1024 == 0) {
    bytes /= 1024;
    ++unit;
  }
  return std::to_string(bytes) + kNames[unit];
}

}  // namespace stsw::bench
