// Device sweep: the block size x queue depth matrix of sequential reads and writes on a
// directory (a scratch file) or a device file, stsw's raw Engine beside fio in the same
// cell, interleaved repetition by repetition. A focused fio front-end for the checkpoint
// workload: which chunk size and queue depth a device wants.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "page_cache.hpp"
#include "stats.hpp"
#include "stsw/engine.hpp"

namespace stsw::bench {

struct SweepConfig {
  std::string target = ".";  // a directory, a regular file or a block device
  std::vector<std::uint64_t> block_sizes = {1 << 20, 4 << 20, 8 << 20, 16 << 20};
  std::vector<unsigned> depths = {1, 4, 8, 16, 32};
  bool read = true;
  bool write = true;
  std::uint64_t size = std::uint64_t{1} << 30;  // bytes per cell and repetition
  unsigned repetitions = 1;
  bool fio = true;
  std::string fio_path = "fio";
  BackendKind backend = BackendKind::Auto;
  IoMode io_mode = IoMode::Direct;
  CacheDrop cache_drop = CacheDrop::File;
  bool allow_device_write = false;  // writing a block device destroys its contents
  std::string csv_path;
  std::string json_path;
  bool quiet = false;
};

struct SweepCell {
  bool write = false;
  std::uint64_t block_size = 0;
  unsigned depth = 0;
  Summary stsw_gbps;
  Summary fio_gbps;  // count 0 without fio
  Summary ratio;     // paired stsw / fio
  Summary stsw_cpu_per_gb;
  Summary fio_cpu_per_gb;
  std::vector<std::string> errors;
};

struct SweepResult {
  SweepConfig config;
  std::string target_kind;  // "directory", "file", "block device"
  std::string path;         // the file or device actually used
  std::string backend;
  std::string fio_version;  // empty: no fio
  std::vector<SweepCell> cells;
  std::vector<std::string> notes;
};

// Throws stsw::Error(InvalidArgument) for an empty matrix, a device write without
// allow_device_write, block sizes not multiples of 4096; Io when the target is unusable.
[[nodiscard]] SweepResult run_sweep(const SweepConfig& config);

// Tables: one per direction, block sizes down, depths across, "stsw / fio (ratio)".
void print_sweep(std::FILE* out, const SweepResult& result);
void write_sweep_csv(std::ostream& out, const SweepResult& result);
void write_sweep_json(std::ostream& out, const SweepResult& result);

}  // namespace stsw::bench
