// One timed run of a workload: wall time, CPU time (user + sys of every thread, from
// getrusage), bytes moved and the peak resident-set growth during the run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace stsw::bench {

struct Sample {
  double seconds = 0;                 // wall time of the timed section
  double cpu_seconds = 0;             // user + sys over the timed section
  std::uint64_t bytes = 0;            // payload bytes the workload moved
  std::uint64_t peak_rss_growth = 0;  // VmHWM - VmRSS at start of the timed section
  std::uint64_t peak_rss = 0;         // VmHWM at the end (absolute), or a child's ru_maxrss
  // The process's peak minus the caller buffers (caller_buffer_bytes()): what the
  // implementation itself holds (engine pool, mappings, heap, code); a child's ru_maxrss.
  std::uint64_t peak_rss_own = 0;
  bool cold = false;            // reads: the file was out of the page cache at start
  double resident_before = -1;  // fraction of the file cached at start (-1: not read)
  std::string note;             // anything a reader of the figure must know
  // The whole call or process (open, set-up, I/O, close) where `seconds` is a narrower
  // window (stsw: first request to last completion; fio best: its own I/O time); 0: n/a.
  double wall_seconds = 0;
  std::string command;  // fio: the exact command line run
  // Per-request figures where the workload reports its requests (IoProbe::request): the
  // raw engine rows. 0: not recorded.
  std::uint64_t requests = 0;
  double lat_p50_us = 0;
  double lat_p99_us = 0;
  double iops = 0;  // requests / seconds

  [[nodiscard]] double gbps() const noexcept {
    return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e9 : 0;
  }
  [[nodiscard]] double cpu_per_gb() const noexcept {
    return bytes > 0 ? cpu_seconds / (static_cast<double>(bytes) / 1e9) : 0;
  }
};

// What a workload tells the measurement from inside its body (measure_in_process makes one
// current for the body's duration; the free functions below are no-ops outside one).
// first_submit(): the I/O starts now (after open and set-up) — the first call counts; the
// Sample's seconds then run from here to the body's return (the last completion; for
// durable writes, after the fsync) and wall_seconds cover the whole body.
// request(s): one request's latency, submission to completion. Thread-safe.
void mark_first_submit() noexcept;
void record_request(double seconds);

// The p-th percentile (0-100, nearest rank) of `v` (sorted in place); 0 when empty.
[[nodiscard]] double percentile(std::vector<double>& v, double p);

// Runs `body` in this process and measures it. `body` returns the bytes it moved and
// must not allocate its destination/source buffers (the caller pre-faults them). The
// peak-RSS probe is reset right before `body` starts.
[[nodiscard]] Sample measure_in_process(const std::function<std::uint64_t()>& body);

// Monotonic seconds.
[[nodiscard]] double now_seconds() noexcept;

}  // namespace stsw::bench
