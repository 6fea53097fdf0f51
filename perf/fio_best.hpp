// "fio best": the device's limit for one workload as a fio user would state it. A short
// sweep (fio_sweep_jobs: at most 8 jobs of a small size, fixed buffers and registered
// files on) on the same file or directory as stsw's rows, each job judged by fio's own
// bandwidth (bw_bytes); the fastest is the job the "fio best" row reruns at full size in
// every repetition. See perf/LIMITS.md.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fio.hpp"

namespace stsw::bench {

struct FioSweep {
  bool write = false;
  std::vector<FioTrial> trials;
  std::optional<std::size_t> best;  // index into trials; nullopt: every job failed
};

// Runs every sweep job of `base` at `sweep_size` bytes. `prepare(job)` runs before each
// (untimed: remove the write target, drop the read file from the cache). A job that fails
// is recorded with its error; the sweep goes on.
[[nodiscard]] FioSweep run_fio_sweep(const std::string& fio, const FioJob& base,
                                     std::uint64_t sweep_size,
                                     const std::function<void(const FioJob&)>& prepare);

// The best job of `sweep` for a run over `filename` and `size` bytes; nullopt without one.
[[nodiscard]] std::optional<FioJob> best_job(const FioSweep& sweep, const std::string& filename,
                                             std::uint64_t size);

}  // namespace stsw::bench
