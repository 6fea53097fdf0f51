// What one harness run measures: workloads, file size and tensor mix, engine settings,
// baselines, repetitions and outputs. Filled by the command line (cli.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "page_cache.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"
#include "stsw_workloads.hpp"
#include "tensor_mix.hpp"

namespace stsw::bench {

// Workload groups; each compares stsw with the baselines that do the same job.
enum class Workload {
  Write,      // StreamWriter (CRC on/off), raw engine; fio write, naive buffered writer
  ReadCold,   // StreamReader::read_into (CRC checked), raw engine; fio, mmap+memcpy, pread
  ReadWarm,   // the same with the file in the page cache
  Verify,     // StreamReader::verify (whole-file CRC scrub) against fio's cold read
  Roundtrip,  // write then cold read, summed
};

[[nodiscard]] std::string_view to_string(Workload w) noexcept;  // "write", "read-cold", ...
[[nodiscard]] std::optional<Workload> parse_workload(std::string_view s) noexcept;

struct Baselines {
  bool fio = true;    // fio with ioengine=io_uring (skipped with a note when not installed)
  bool naive = true;  // naive buffered writer
  bool mmap = true;   // mmap + memcpy
  bool pread = true;  // pread loop
};

struct BenchConfig {
  std::string dir = ".";                        // where the files go (any device)
  std::uint64_t size = std::uint64_t{4} << 30;  // target file size
  TensorMix mix{};                              // llm by default
  std::vector<Workload> workloads = {Workload::Write, Workload::ReadCold, Workload::ReadWarm,
                                     Workload::Verify};
  bool write_nocrc = true;    // also StreamWriter with crc32 off (the cost of the CRC)
  bool engine_rows = false;   // also the raw Engine write/read (where losses come from)
  bool fresh_memory = false;  // also read_into fresh, never-touched memory
  // The model loader's pattern (file order, 1-2 read_into calls in flight into an arena,
  // packed and congruent): rows stsw-load-*, in the cold-read group.
  bool loader_rows = true;
  // Also the packed loader rows with ReaderOptions::read_ahead off (stsw-load-*-nora):
  // read-ahead's effect measured in the same run.
  bool loader_no_read_ahead = false;
  // stsw convert safetensors -> safetensors of the read file (write group; needs a read
  // workload for its input), against the StreamWriter row of the same run.
  bool convert_row = true;
  Baselines baselines{};
  unsigned repetitions = 3;
  // Engine and file settings for stsw and, where they apply, fio.
  std::size_t chunk_size = std::size_t{8} << 20;
  unsigned queue_depth = 8;
  unsigned buffer_count = 6;
  unsigned worker_threads = 1;
  bool register_files = true;  // io_uring fixed files (--no-register-files: the A/B of issue 21)
  BackendKind backend = BackendKind::Auto;
  IoMode io_mode = IoMode::Auto;
  ReadMode read_mode = ReadMode::Auto;
  // Where read_into puts the tensors (see DstLayout); the cold-read group also always
  // runs a congruent (zero-copy) row.
  DstLayout dst_layout = DstLayout::Page;
  CacheDrop cache_drop = CacheDrop::Auto;
  std::string fio = "fio";
  bool fio_hugepages = false;  // also fio with huge-page buffers (raises nr_hugepages)
  // The "fio best" sweep (fio_best.hpp) before the repetitions, per direction, at this
  // size per job (capped at the file size); 0: no sweep, fio's default job is the reference.
  std::uint64_t fio_sweep_size = std::uint64_t{256} << 20;
  bool realtime = false;  // SCHED_FIFO for the run (stsw threads and fio alike)
  std::string json_path;  // "-" for stdout
  std::string csv_path;
  bool keep_files = false;
  bool quiet = false;  // no progress lines on stderr
  std::string suite = "custom";
};

// `--suite standard`: write (CRC on and off) and cold/warm read and verify of a 4 GiB llm
// checkpoint against every baseline, 3 repetitions.
void apply_standard_suite(BenchConfig& c);
// `--quick` (and `--suite quick`): every workload, baseline and extra row on a 64 MiB file,
// one repetition, cache drop per file: proves each path works; figures are meaningless.
void apply_quick_suite(BenchConfig& c);

// Throws stsw::Error(InvalidArgument) naming the option that is out of range.
void validate(const BenchConfig& c);

}  // namespace stsw::bench
