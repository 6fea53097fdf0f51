#include "config.hpp"

#include "stsw/error.hpp"

namespace stsw::bench {

std::string_view to_string(Workload w) noexcept {
  switch (w) {
    case Workload::Write: return "write";
    case Workload::ReadCold: return "read-cold";
    case Workload::ReadWarm: return "read-warm";
    case Workload::Verify: return "verify";
    case Workload::Roundtrip: return "roundtrip";
  }
  return "?";
}

std::optional<Workload> parse_workload(std::string_view s) noexcept {
  for (Workload w : {Workload::Write, Workload::ReadCold, Workload::ReadWarm, Workload::Verify,
                     Workload::Roundtrip}) {
    if (s == to_string(w)) return w;
  }
  if (s == "read") return Workload::ReadCold;
  return std::nullopt;
}

void apply_standard_suite(BenchConfig& c) {
  c.suite = "standard";
  c.size = std::uint64_t{4} << 30;
  c.mix = TensorMix{};
  c.workloads = {Workload::Write, Workload::ReadCold, Workload::ReadWarm, Workload::Verify};
  c.write_nocrc = true;
  c.baselines = Baselines{};
  c.repetitions = 3;
}

void apply_quick_suite(BenchConfig& c) {
  c.suite = "quick";
  c.size = std::uint64_t{64} << 20;
  c.workloads = {Workload::Write, Workload::ReadCold, Workload::ReadWarm, Workload::Verify,
                 Workload::Roundtrip};
  c.write_nocrc = true;
  c.engine_rows = true;
  c.fresh_memory = true;
  c.repetitions = 1;
  if (c.cache_drop == CacheDrop::Auto) c.cache_drop = CacheDrop::File;
}

void validate(const BenchConfig& c) {
  auto fail = [](const std::string& what) { throw Error(Errc::InvalidArgument, what); };
  if (c.dir.empty()) fail("--dir must not be empty");
  if (c.size < 4096) fail("--size must be at least 4096 bytes");
  if (c.repetitions == 0 || c.repetitions > 1000) fail("--reps must be in [1, 1000]");
  if (c.chunk_size == 0 || c.chunk_size % 4096 != 0) fail("--chunk must be a multiple of 4096");
  if (c.queue_depth == 0 || c.queue_depth > 4096) fail("--qd must be in [1, 4096]");
  if (c.buffer_count == 0 || c.buffer_count > 4096) fail("--buffers must be in [1, 4096]");
  if (c.worker_threads == 0 || c.worker_threads > 256) fail("--workers must be in [1, 256]");
  if (c.workloads.empty()) fail("--workloads must name at least one workload");
}

}  // namespace stsw::bench
