// Header codec speed on a 10,000-tensor checkpoint: planning the layout, encoding the
// canonical header, and parsing/validating it (what every open pays).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "stsw/header.hpp"

namespace {

constexpr int kTensors = 10'000;

std::vector<stsw::TensorSpec> specs() {
  std::vector<stsw::TensorSpec> v;
  v.reserve(kTensors);
  for (int i = 0; i < kTensors; ++i) {
    const std::uint64_t rows = 64 + static_cast<std::uint64_t>(i % 97);
    v.push_back({"model.layers." + std::to_string(i / 10) + ".mlp.proj_" + std::to_string(i % 10) +
                     ".weight",
                 i % 3 == 0 ? stsw::DType::F32 : stsw::DType::BF16,
                 {rows, 128}});
  }
  return v;
}

const stsw::Metadata kMeta = {{"format", "pt"}};

void BM_PlanLayout(benchmark::State& state) {
  const auto v = specs();
  for (auto _ : state) {
    auto layout = stsw::plan_layout(v, stsw::LayoutOrder::Canonical, 64, kMeta, true);
    benchmark::DoNotOptimize(layout.header_size);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kTensors);
}

void BM_EncodeHeader(benchmark::State& state) {
  const auto layout = stsw::plan_layout(specs(), stsw::LayoutOrder::Canonical, 8, kMeta);
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string h = stsw::encode_header(layout.tensors, kMeta);
    bytes = h.size();
    benchmark::DoNotOptimize(h.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kTensors);
}

void BM_ParseHeader(benchmark::State& state) {
  const auto layout = stsw::plan_layout(specs(), stsw::LayoutOrder::Canonical, 8, kMeta);
  const std::string h = stsw::encode_header(layout.tensors, kMeta);
  const std::string_view json = std::string_view(h).substr(8);
  const bool strict = state.range(0) != 0;
  for (auto _ : state) {
    stsw::ParseOptions o;
    o.strict = strict;
    auto parsed = stsw::parse_header(json, layout.data_size, o);
    benchmark::DoNotOptimize(parsed.tensors.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * json.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * kTensors);
}

}  // namespace

BENCHMARK(BM_PlanLayout)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_EncodeHeader)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseHeader)->Arg(1)->Arg(0)->ArgName("strict")->Unit(benchmark::kMillisecond);
