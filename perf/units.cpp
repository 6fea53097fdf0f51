#include "units.hpp"

#include <array>
#include <cctype>
#include <cstdio>
#include <utility>

namespace stsw::bench {

std::optional<std::uint64_t> parse_size(std::string_view text) noexcept {
  std::size_t i = 0;
  std::uint64_t value = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
    ++i;
  }
  if (i == 0) return std::nullopt;
  std::string suffix;
  for (; i < text.size(); ++i)
    suffix += static_cast<char>(std::toupper(static_cast<unsigned char>(text[i])));
  static constexpr std::array<std::pair<std::string_view, std::uint64_t>, 14> kUnits = {{
      {"", 1},
      {"B", 1},
      {"K", 1ULL << 10},
      {"KIB", 1ULL << 10},
      {"M", 1ULL << 20},
      {"MIB", 1ULL << 20},
      {"G", 1ULL << 30},
      {"GIB", 1ULL << 30},
      {"T", 1ULL << 40},
      {"TIB", 1ULL << 40},
      {"KB", 1000ULL},
      {"MB", 1000ULL * 1000},
      {"GB", 1000ULL * 1000 * 1000},
      {"TB", 1000ULL * 1000 * 1000 * 1000},
  }};
  for (const auto& [name, mult] : kUnits) {
    if (suffix == name) {
      if (value > UINT64_MAX / mult) return std::nullopt;
      return value * mult;
    }
  }
  return std::nullopt;
}

std::string format_bytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> kNames = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (v >= 1024.0 && unit + 1 < kNames.size()) {
    v /= 1024.0;
    ++unit;
  }
  char buf[32];
  if (unit == 0 || v == static_cast<double>(static_cast<std::uint64_t>(v))) {
    std::snprintf(buf, sizeof(buf), "%.0f %s", v, kNames[unit]);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f %s", v, kNames[unit]);
  }
  return buf;
}

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
