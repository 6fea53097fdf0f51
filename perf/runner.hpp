// Runs the configured workloads with interleaved repetitions: in repetition r every row
// of a group runs once, starting at row r (A B C, B C A, C A B, ...), so drift of the
// shared disk hits stsw and the baselines alike.
#pragma once

#include "config.hpp"
#include "results.hpp"

namespace stsw::bench {

// Sets up (file plan, pre-faulted buffers, one Engine, the file the reads use), runs every
// repetition and cleans up (unless keep_files). A failing repetition is recorded in its
// row and the run goes on. Throws stsw::Error for a bad configuration or when the set-up
// fails (no space, directory missing). Progress lines go to stderr unless config.quiet.
[[nodiscard]] BenchReport run_benchmark(const BenchConfig& config);

}  // namespace stsw::bench
