// CRC-32 throughput per core: stsw::crc32 (ISA-L, the writer's and reader's kernel) against
// zlib's crc32 (what Python's zlib.crc32 runs), on buffers from L1-sized to memory-sized.
#include <benchmark/benchmark.h>
#include <zlib.h>

#include <cstddef>
#include <vector>

#include "stsw/crc32.hpp"

namespace {

std::vector<std::byte> make_data(std::size_t n) {
  std::vector<std::byte> v(n);
  std::uint32_t x = 2463534242U;
  for (auto& b : v) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    b = static_cast<std::byte>(x);
  }
  return v;
}

void BM_Crc32_Isal(benchmark::State& state) {
  const auto data = make_data(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(stsw::crc32(data));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

void BM_Crc32_Zlib(benchmark::State& state) {
  const auto data = make_data(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
}

// crc32_combine joins per-chunk CRCs (parallel CRC of a large tensor).
void BM_Crc32_Combine(benchmark::State& state) {
  std::uint32_t a = 0x12345678;
  for (auto _ : state) {
    a = stsw::crc32_combine(a, 0x9abcdef0, static_cast<std::uint64_t>(state.range(0)));
    benchmark::DoNotOptimize(a);
  }
}

}  // namespace

BENCHMARK(BM_Crc32_Isal)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(8 << 20)->Arg(256 << 20);
BENCHMARK(BM_Crc32_Zlib)->Arg(4 << 10)->Arg(64 << 10)->Arg(1 << 20)->Arg(8 << 20)->Arg(256 << 20);
BENCHMARK(BM_Crc32_Combine)->Arg(8 << 20)->Arg(1 << 30);
