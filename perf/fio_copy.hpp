// "fio copy": the device's limit for a copy (`stsw convert` safetensors -> safetensors). One
// fio process runs two jobs at once: a read of the input and a durable write (end_fsync=1)
// of as many bytes into the output, both in the shape of the write's "fio best" job (block
// size, queue depth, fixed buffers, registered files). Reads and writes share the device,
// so a copy's rate is below the write-alone limit ("fio best"): measured on this kind of
// disk, 0.52-0.66x of it. The convert row is compared with this row. See perf/LIMITS.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fio.hpp"
#include "measure.hpp"

namespace stsw::bench {

struct FioCopyJob {
  FioJob read;   // rw=read of the input
  FioJob write;  // rw=write of the output, end_fsync=1
};

// The copy of `size` bytes of `input` into `output` in the shape of `shape` (block size,
// queue depth, jobs, direct, fixed buffers, registered files; its file, size and direction
// are replaced). The read is direct, as the convert row's input reads are.
[[nodiscard]] FioCopyJob fio_copy_job(const FioJob& shape, const std::string& input,
                                      const std::string& output, std::uint64_t size);

// `fio --output-format=json` with the read job ("stsw-bench-read") and the write job
// ("stsw-bench-write", --new_group), each with group_reporting: fio runs them concurrently
// and reports the read as jobs[0], the write as jobs[1].
[[nodiscard]] std::vector<std::string> fio_copy_command(const std::string& fio,
                                                        const FioCopyJob& job);

// A copy's figures: each direction's own (fio_json: jobs[0] "read", jobs[1] "write").
struct FioCopyStats {
  FioStats read;
  FioStats write;
  // Bytes copied: what both jobs moved (the smaller io_bytes).
  [[nodiscard]] std::uint64_t bytes() const;
  // The longer of the two jobs' own runtimes (the write's includes its end_fsync); a
  // direction without a runtime counts io_bytes / bw_bytes.
  [[nodiscard]] double seconds() const;
};

// Throws stsw::Error(InvalidArgument) when `text` is not a fio report with both jobs.
[[nodiscard]] FioCopyStats parse_fio_copy_json(std::string_view text);

// Runs the copy. The Sample's seconds are FioCopyStats::seconds() (fio's own figures), its
// bytes bytes(), wall_seconds from the first job's prerun hook to the last postrun hook,
// CPU the two jobs' together, command the shell command line. Throws stsw::Error when fio
// fails or a job reports an error.
[[nodiscard]] Sample run_fio_copy(const std::string& fio, const FioCopyJob& job,
                                  FioCopyStats* stats = nullptr);

}  // namespace stsw::bench
