#include <algorithm>
#include <cstdio>

#include "report.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string mib(double bytes) {
  return fixed(bytes / (1024.0 * 1024.0), bytes < 10.0 * 1024 * 1024 ? 1 : 0) + " MiB";
}

std::string baseline_text(const RowSummary& s) {
  std::string out;
  for (const auto& [id, sum] : s.vs_baseline) {
    if (!out.empty()) out += ", ";
    out += id + " " + format_summary(sum);
  }
  return out.empty() ? "-" : out;
}

std::string latency_text(const RowSummary& s) {
  if (s.lat_p50_us.count == 0) return "-";
  return fixed(s.lat_p50_us.median / 1e3, 1) + "/" + fixed(s.lat_p99_us.median / 1e3, 1) + ", " +
         fixed(s.iops.median, 0);
}

}  // namespace

std::string format_summary(const Summary& s, int digits) {
  if (s.count == 0) return "-";
  std::string out = fixed(s.median, digits);
  if (s.count > 1) out += " [" + fixed(s.min, digits) + "-" + fixed(s.max, digits) + "]";
  return out;
}

void TextTable::print(std::FILE* out) const {
  std::vector<std::size_t> width;
  for (const auto& r : rows_) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows_) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line += std::string(width[i] - r[i].size() + 2, ' ');
    }
    std::fprintf(out, "%s\n", line.c_str());
  }
}

void print_table(std::FILE* out, const BenchReport& rep) {
  const auto& c = rep.config;
  std::fprintf(out,
               "stsw-bench: %s %s checkpoint (%zu tensors, largest %s) in %s (%s), "
               "%u repetition(s), suite %s\n",
               format_bytes(rep.file.file_size).c_str(), to_string(c.mix).c_str(), rep.file.tensors,
               format_bytes(rep.file.largest).c_str(), c.dir.c_str(), rep.env.fs_type.c_str(),
               c.repetitions, c.suite.c_str());
  std::fprintf(out,
               "engine: %s%s%s, chunk %s, queue depth %u, %u buffers, %u worker(s); writer I/O "
               "%s; cold reads: %s; fio: %s%s\n",
               rep.env.backend.c_str(), rep.env.buffers_registered ? " (registered buffers)" : "",
               rep.env.backend != "io_uring" ? ""
               : rep.env.register_files      ? " (registered files)"
                                             : " (plain descriptors)",
               format_size_short(c.chunk_size).c_str(), c.queue_depth, c.buffer_count,
               c.worker_threads, rep.env.write_io_mode.c_str(), rep.env.cache_drop.c_str(),
               rep.env.fio_version.empty() ? "not run" : rep.env.fio_version.c_str(),
               rep.env.realtime ? "; SCHED_FIFO" : "");
  std::fprintf(
      out,
      "GB/s = 10^9 B/s through the final fsync: stsw from the first request to the last "
      "completion, fio best by its own bandwidth, fio default from its job's start hook; "
      "\"whole\" = the whole call (open and close) or fio process; median [min-max]; "
      "x fio = x fio best of the group (convert: x fio copy, its reads and writes at once; "
      "convert of a cached input: x the StreamWriter), paired by repetition\n"
      "peak RSS = the process's peak minus caller buffers (source data, destination), "
      "max over repetitions (fio: the child's); RSS growth = within the timed section\n\n");
  TextTable t({"workload", "implementation", "GB/s", "whole GB/s", "x fio", "x other baselines",
               "CPU s/GB", "lat p50/p99 ms, IOPS", "peak RSS", "RSS growth", "note"});
  for (const Row& row : rep.rows) {
    RowSummary s = summarize_row(rep, row);
    std::string note;
    const bool cold_group = row.group == Workload::ReadCold || row.group == Workload::Verify ||
                            row.group == Workload::Roundtrip;
    if (cold_group && s.gbps.count > 0 && !s.all_cold) note = "WARM cache";
    const auto failed = static_cast<std::size_t>(std::count(row.ok.begin(), row.ok.end(), false));
    if (failed > 0) note += (note.empty() ? "" : "; ") + std::to_string(failed) + " failed";
    t.add({std::string(to_string(row.group)), row.label, format_summary(s.gbps),
           format_summary(s.wall_gbps), s.vs_fio ? format_summary(*s.vs_fio) : "-",
           row.is_baseline() ? "-" : baseline_text(s), format_summary(s.cpu_per_gb),
           latency_text(s), s.peak_rss_own.count ? mib(s.peak_rss_own.max) : "-",
           s.peak_rss_growth.count ? mib(s.peak_rss_growth.max) : "-", note});
  }
  t.print(out);
  for (const Row& row : rep.rows) {
    for (const auto& e : row.errors)
      std::fprintf(out, "error: %s: %s\n", row.id.c_str(), e.c_str());
  }
  for (const Row& row : rep.rows) {
    const bool reference = row.impl == "fio" || row.impl == "fio-copy";
    if (!reference || row.samples.empty() || row.samples.front().command.empty()) continue;
    std::fprintf(out, "%s: %s\n", row.id.c_str(), row.samples.front().command.c_str());
  }
  for (const auto& sw : rep.fio_sweeps) {
    std::string line;
    for (std::size_t i = 0; i < sw.trials.size(); ++i) {
      const auto& tr = sw.trials[i];
      line += (line.empty() ? "" : ", ") + std::to_string(tr.job.block_size >> 20) + "M/QD" +
              std::to_string(tr.job.iodepth) + (tr.job.numjobs > 1 ? "x2" : "") + " " +
              (tr.stats ? fixed(tr.stats->bw_bytes / 1e9, 2) : std::string("failed")) +
              (sw.best && *sw.best == i ? "*" : "");
    }
    std::fprintf(out, "fio sweep (%s, GB/s by fio's own figure, * = best): %s\n",
                 sw.write ? "write" : "cold read", line.c_str());
  }
  for (const auto& n : rep.notes) std::fprintf(out, "note: %s\n", n.c_str());
}

}  // namespace stsw::bench
