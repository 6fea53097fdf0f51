#include <boost/json.hpp>

#include "json_text.hpp"
#include "report.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

namespace json = boost::json;

json::object summary_json(const Summary& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"count", s.count}};
}

json::object sample_json(const Sample& x, bool ok) {
  json::object o{{"ok", ok},
                 {"seconds", x.seconds},
                 {"bytes", x.bytes},
                 {"gbps", x.gbps()},
                 {"cpu_seconds", x.cpu_seconds},
                 {"cpu_s_per_gb", x.cpu_per_gb()},
                 {"peak_rss_growth", x.peak_rss_growth},
                 {"peak_rss", x.peak_rss},
                 {"peak_rss_own", x.peak_rss_own},
                 {"cold", x.cold},
                 {"resident_before", x.resident_before}};
  if (!x.note.empty()) o["note"] = x.note;
  if (x.wall_seconds > 0) o["wall_seconds"] = x.wall_seconds;
  if (!x.command.empty()) o["command"] = x.command;
  if (x.requests > 0) {
    o["requests"] = x.requests;
    o["lat_p50_us"] = x.lat_p50_us;
    o["lat_p99_us"] = x.lat_p99_us;
    o["iops"] = x.iops;
  }
  return o;
}

json::object sweep_json(const FioSweep& sw) {
  json::array trials;
  for (const auto& t : sw.trials) {
    json::object o{{"command", shell_command(fio_command("fio", t.job))},
                   {"block_size", t.job.block_size},
                   {"iodepth", t.job.iodepth},
                   {"numjobs", t.job.numjobs}};
    if (t.stats) {
      o["gbps"] = t.stats->bw_bytes / 1e9;
    } else {
      o["error"] = t.error;
    }
    trials.push_back(std::move(o));
  }
  return {{"direction", sw.write ? "write" : "read"},
          {"best", sw.best ? json::value(*sw.best) : json::value()},
          {"trials", std::move(trials)}};
}

json::object config_json(const BenchConfig& c) {
  json::array workloads;
  for (Workload w : c.workloads) workloads.emplace_back(to_string(w));
  return {{"suite", c.suite},
          {"dir", c.dir},
          {"size", c.size},
          {"mix", to_string(c.mix)},
          {"workloads", std::move(workloads)},
          {"repetitions", c.repetitions},
          {"chunk_size", c.chunk_size},
          {"queue_depth", c.queue_depth},
          {"buffer_count", c.buffer_count},
          {"worker_threads", c.worker_threads},
          {"backend", to_string(c.backend)},
          {"io_mode", to_string(c.io_mode)},
          {"read_mode", to_string(c.read_mode)},
          {"dst_layout", to_string(c.dst_layout)},
          {"cache_drop", to_string(c.cache_drop)},
          {"fio_sweep_size", c.fio_sweep_size}};
}

json::object row_json(const BenchReport& rep, const Row& row) {
  RowSummary s = summarize_row(rep, row);
  json::array samples;
  for (std::size_t i = 0; i < row.samples.size(); ++i)
    samples.push_back(sample_json(row.samples[i], row.ok[i]));
  json::object vs;
  for (const auto& [id, sum] : s.vs_baseline) vs[id] = summary_json(sum);
  json::array errors;
  for (const auto& e : row.errors) errors.emplace_back(e);
  json::object o{{"group", to_string(row.group)},
                 {"id", row.id},
                 {"impl", row.impl},
                 {"label", row.label},
                 {"bytes", s.bytes},
                 {"gbps", summary_json(s.gbps)},
                 {"seconds", summary_json(s.seconds)},
                 {"wall_gbps", summary_json(s.wall_gbps)},
                 {"lat_p50_us", summary_json(s.lat_p50_us)},
                 {"lat_p99_us", summary_json(s.lat_p99_us)},
                 {"iops", summary_json(s.iops)},
                 {"cpu_s_per_gb", summary_json(s.cpu_per_gb)},
                 {"peak_rss_growth", summary_json(s.peak_rss_growth)},
                 {"peak_rss_own", summary_json(s.peak_rss_own)},
                 {"all_cold", s.all_cold},
                 {"ratio_to_fio", s.vs_fio ? json::value(summary_json(*s.vs_fio)) : json::value()},
                 {"ratio_reference", row.reference},
                 {"ratio_to_baselines", std::move(vs)},
                 {"samples", std::move(samples)},
                 {"errors", std::move(errors)}};
  return o;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

void write_json(std::ostream& out, const BenchReport& rep) {
  json::array rows;
  for (const Row& row : rep.rows) rows.push_back(row_json(rep, row));
  json::array notes;
  for (const auto& n : rep.notes) notes.emplace_back(n);
  json::array sweeps;
  for (const auto& sw : rep.fio_sweeps) sweeps.push_back(sweep_json(sw));
  const auto& e = rep.env;
  json::object doc{{"tool", "stsw-bench"},
                   {"schema", 1},
                   {"config", config_json(rep.config)},
                   {"environment",
                    {{"kernel", e.kernel},
                     {"cpus", e.cpus},
                     {"memory", e.memory},
                     {"fs_type", e.fs_type},
                     {"fio_version", e.fio_version},
                     {"cache_drop", e.cache_drop},
                     {"backend", e.backend},
                     {"buffers_registered", e.buffers_registered},
                     {"register_files", e.register_files},
                     {"write_io_mode", e.write_io_mode},
                     {"engine_setup_seconds", e.engine_setup_seconds},
                     {"realtime", e.realtime},
                     {"fio_hugepages", e.fio_hugepages}}},
                   {"file",
                    {{"tensors", rep.file.tensors},
                     {"file_size", rep.file.file_size},
                     {"data_size", rep.file.data_size},
                     {"largest", rep.file.largest},
                     {"smallest", rep.file.smallest}}},
                   {"fio_sweeps", std::move(sweeps)},
                   {"rows", std::move(rows)},
                   {"notes", std::move(notes)}};
  out << plain_json_numbers(json::serialize(doc)) << "\n";
}

void write_csv(std::ostream& out, const BenchReport& rep) {
  out << "group,id,impl,label,reps_ok,bytes,gbps_median,gbps_min,gbps_max,vs_fio_median,"
         "vs_fio_min,vs_fio_max,cpu_s_per_gb_median,peak_rss_own_max,peak_rss_growth_max,all_"
         "cold\n";
  for (const Row& row : rep.rows) {
    RowSummary s = summarize_row(rep, row);
    out << to_string(row.group) << ',' << row.id << ',' << row.impl << ',' << csv_field(row.label)
        << ',' << s.gbps.count << ',' << s.bytes << ',' << s.gbps.median << ',' << s.gbps.min << ','
        << s.gbps.max << ',';
    if (s.vs_fio) {
      out << s.vs_fio->median << ',' << s.vs_fio->min << ',' << s.vs_fio->max << ',';
    } else {
      out << ",,,";
    }
    out << s.cpu_per_gb.median << ',' << static_cast<std::uint64_t>(s.peak_rss_own.max) << ','
        << static_cast<std::uint64_t>(s.peak_rss_growth.max) << ',' << (s.all_cold ? 1 : 0) << '\n';
  }
}

}  // namespace stsw::bench
