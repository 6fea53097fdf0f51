// The fio baseline: what the device can do for the same bytes, block size, queue depth
// and direct flag, with ioengine=io_uring. Writes end with end_fsync=1.
//
// Two fio rows. "fio best" is the reference of every "x fio" ratio: the fastest of a short
// sweep (fio_sweep_jobs: block size, queue depth, 1-2 jobs, fixed buffers and registered
// files), rerun at full size, by fio's own bandwidth (bw_bytes: its I/O time, set-up such as
// registering buffers excluded). "fio default" is the engine's chunk size and queue depth
// with fio's defaults, timed as below. See perf/LIMITS.md.
//
// Timing. fio's process start-up costs 1.4-1.8 s on these machines (measured: spawn to
// the job's exec_prerun hook), far more than stsw's set-up, so timing the process would
// flatter stsw. The job is timed end to end instead: from its exec_prerun hook to its
// exec_postrun hook (file open, all I/O, the final fsync and the close), which is a few
// milliseconds longer than fio's own runtime (measured 1.689 s runtime vs 1.738 s between
// the hooks for a 1 GiB write; the runtime includes the end_fsync).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "measure.hpp"

namespace stsw::bench {

struct FioJob {
  std::string filename;
  bool write = false;        // rw=write (else rw=read)
  std::uint64_t size = 0;    // bytes (rounded down to a multiple of block_size)
  std::uint64_t offset = 0;  // start offset in the file
  std::size_t block_size = 8 << 20;
  unsigned iodepth = 8;
  bool direct = true;
  bool invalidate = true;       // false: --invalidate=0 (warm page-cache reads)
  std::string iomem;            // --iomem (e.g. "shmhuge"); empty: fio's default (malloc)
  bool fixed_buffers = false;   // --fixedbufs=1 (io_uring registered buffers)
  bool register_files = false;  // --registerfiles=1 (io_uring registered files)
  // Jobs sharing the range: job k covers [offset + k * size/numjobs, ...) of the same file
  // (--offset_increment), reported as one (--group_reporting).
  unsigned numjobs = 1;
};

// fio's own figures from its JSON report (--output-format=json).
struct FioStats {
  std::uint64_t io_bytes = 0;  // bytes transferred by the job
  double io_seconds = 0;       // fio's runtime of the direction (end_fsync included)
  double job_seconds = 0;      // job_runtime
  double usr_cpu_pct = 0;
  double sys_cpu_pct = 0;
  int error = 0;  // the job's error field
  // fio's own bandwidth of the direction (bw_bytes; io_bytes / runtime when absent): the
  // device's limit as a fio user reads it, set-up and process start-up excluded.
  double bw_bytes = 0;
};

// Parses fio's JSON output (text before the first '{' is skipped: fio prints notes there).
// Reads the "read" or "write" section of entry `index` of "jobs" (one entry per reporting
// group with group_reporting, else per job). Throws stsw::Error(InvalidArgument) with the
// reason when the text is not a fio JSON report or has no such entry.
[[nodiscard]] FioStats parse_fio_json(std::string_view text, bool write, std::size_t index = 0);

// The command line for `job` (argv[0] = `fio`): `fio --output-format=json` and the job's
// options (fio_job_options).
[[nodiscard]] std::vector<std::string> fio_command(const std::string& fio, const FioJob& job);

// The options of one job section, from `--name=<name>` on: what fio_command runs, and
// what a command of several concurrent jobs (fio_copy.hpp) repeats per job. The job's
// exec hooks save their timestamps in <name>.prerun.txt / <name>.postrun.txt.
[[nodiscard]] std::vector<std::string> fio_job_options(const FioJob& job, const std::string& name);

// `argv` as one shell command line (arguments with shell metacharacters single-quoted):
// what the report prints and stores so that a reader can rerun the reference job.
[[nodiscard]] std::string shell_command(const std::vector<std::string>& argv);

// One fio process (argv from fio_command or fio_copy_command), run in a scratch working
// directory where the jobs' hooks save their output. `what` names it in errors.
struct FioProcess {
  std::string out;      // stdout: the JSON report
  double seconds = 0;   // the earliest prerun hook to the latest postrun hook of `jobs`
  bool hooked = false;  // false: the hooks left no timestamps; seconds = the process's
  std::uint64_t max_rss = 0;
};
// Throws stsw::Error(Io) when fio exits non-zero (its stderr in the message).
[[nodiscard]] FioProcess run_fio_process(const std::vector<std::string>& argv,
                                         const std::vector<std::string>& jobs,
                                         const std::string& what);

// Runs fio for `job` (in a scratch working directory, where fio saves the hooks' output).
// The Sample's wall_seconds run from the prerun to the postrun hook (the process's wall
// time, with a note, if the hooks left no timestamps); its seconds are the same, or with
// `own_bandwidth` io_bytes / bw_bytes (fio's own figure, the "fio best" reference); command
// is the shell command line. Its CPU time is fio's job CPU (usr_cpu +
// sys_cpu of job_runtime), its peak RSS the child's; bytes are fio's io_bytes. Throws
// stsw::Error when fio fails (its stderr in the message).
[[nodiscard]] Sample run_fio(const std::string& fio, const FioJob& job, FioStats* stats = nullptr,
                             bool own_bandwidth = false);

// The short sweep that finds "fio best" for a workload: at most 8 jobs (block size 1-8 MiB,
// queue depth 8-64, 1-2 jobs), each a copy of `base` with fixed buffers and registered
// files on and `size` bytes (the sweep's small size).
[[nodiscard]] std::vector<FioJob> fio_sweep_jobs(const FioJob& base, std::uint64_t size);

// Index of the result with the highest bw_bytes (ties: the earlier); nullopt when none ran.
struct FioTrial {
  FioJob job;
  std::optional<FioStats> stats;  // nullopt: the job failed (error holds why)
  std::string error;
};
[[nodiscard]] std::optional<std::size_t> pick_fio_best(const std::vector<FioTrial>& trials);

// "fio-3.33" from `fio --version`; nullopt when fio cannot be run.
[[nodiscard]] std::optional<std::string> fio_version(const std::string& fio);

}  // namespace stsw::bench
