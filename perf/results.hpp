// The results of a harness run: one Row per implementation and workload, one Sample per
// repetition, and the summaries and same-run ratios the reports print.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "config.hpp"
#include "fio_best.hpp"
#include "measure.hpp"
#include "stats.hpp"

namespace stsw::bench {

struct Row {
  Workload group = Workload::Write;
  std::string id;     // stable key: "stsw-write", "fio-read", "mmap-read", ...
  std::string label;  // table text: "stsw StreamWriter, crc32"
  std::string impl;   // "stsw", "engine", "fio", "naive", "mmap", "pread"
  // Index = repetition; a failed repetition has ok = false and its error in `errors`.
  std::vector<Sample> samples;
  std::vector<bool> ok;
  std::vector<std::string> errors;
  // The id of the row this row's "x fio" ratio is taken against. Empty: the group's fio
  // row (impl "fio": "fio best" where the sweep ran, else fio's default job). Set where
  // the group's limit is not this row's: the convert row names "fio-copy" (reads and
  // writes at once), while the group's fio row is a write alone. A named row that did not
  // run gives no ratio.
  std::string reference = {};

  [[nodiscard]] bool is_stsw() const { return impl == "stsw" || impl == "engine"; }
  // Rows every stsw row is compared with (besides the fio reference, "fio best" where the
  // sweep ran): the naive baselines, fio's default job and fio with huge-page buffers.
  [[nodiscard]] bool is_baseline() const {
    return is_naive() || impl == "fio-huge" || impl == "fio-default";
  }
  [[nodiscard]] bool is_naive() const {
    return impl == "naive" || impl == "mmap" || impl == "pread";
  }
};

struct RowSummary {
  Summary gbps;
  Summary seconds;
  Summary wall_gbps;   // bytes over Sample::wall_seconds (the whole call/process); count 0: n/a
  Summary lat_p50_us;  // per-request latency where recorded (engine rows); count 0: n/a
  Summary lat_p99_us;
  Summary iops;
  Summary cpu_per_gb;             // CPU seconds (user + sys) per 10^9 bytes
  Summary peak_rss_growth;        // bytes above the RSS at the start of the timed section
  Summary peak_rss_own;           // peak RSS minus caller buffers (see Sample::peak_rss_own)
  std::optional<Summary> vs_fio;  // paired ratios of GB/s to the reference (Row::reference)
  std::map<std::string, Summary> vs_baseline;  // id of a baseline row -> paired ratios
  bool all_cold = true;                        // every sample of a cold read really started cold
  std::uint64_t bytes = 0;                     // bytes of the last successful sample
};

struct Environment {
  std::string kernel;
  unsigned cpus = 0;
  std::uint64_t memory = 0;
  std::string fs_type;      // of --dir
  std::string fio_version;  // empty: fio not run
  std::string cache_drop;   // the method actually used for cold reads
  std::string backend;      // the engine's backend in use
  bool buffers_registered = false;
  bool register_files = false;  // io_uring registered files on (off: --no-register-files)
  std::string write_io_mode;    // the StreamWriter's effective mode
  double engine_setup_seconds = 0;
  bool realtime = false;       // the run had SCHED_FIFO
  bool fio_hugepages = false;  // the fio-huge rows ran
};

struct FileInfo {
  std::size_t tensors = 0;
  std::uint64_t file_size = 0;  // of the stsw-written file
  std::uint64_t data_size = 0;
  std::uint64_t largest = 0;
  std::uint64_t smallest = 0;
};

struct BenchReport {
  BenchConfig config;
  Environment env;
  FileInfo file;
  std::vector<Row> rows;
  std::vector<std::string> notes;    // run-wide remarks (fio missing, caches warm, ...)
  std::vector<FioSweep> fio_sweeps;  // the sweeps that found "fio best" (write, read)
};

// Summaries of `row`, with ratios against the rows of the same group in `report`.
[[nodiscard]] RowSummary summarize_row(const BenchReport& report, const Row& row);

}  // namespace stsw::bench
