// Small system-level helpers shared by the engine's I/O code: the RWF_DONTCACHE flag
// (missing from older headers) and alignment arithmetic.
#pragma once

#include <sys/uio.h>

#include <cstdint>

#ifndef RWF_DONTCACHE
#define RWF_DONTCACHE 0x00000080
#endif

namespace stsw::detail {

[[nodiscard]] constexpr std::uint64_t round_down(std::uint64_t v, std::uint64_t a) noexcept {
  return v - v % a;
}
[[nodiscard]] constexpr std::uint64_t round_up(std::uint64_t v, std::uint64_t a) noexcept {
  return round_down(v + a - 1, a);
}
[[nodiscard]] inline bool aligned(const void* p, std::uint64_t a) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

}  // namespace stsw::detail
