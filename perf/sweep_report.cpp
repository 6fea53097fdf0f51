#include <boost/json.hpp>
#include <cstdio>

#include "json_text.hpp"
#include "report.hpp"
#include "sweep.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

std::string cell_text(const SweepCell& c) {
  char buf[96];
  if (c.fio_gbps.count == 0) {
    std::snprintf(buf, sizeof(buf), "%.2f", c.stsw_gbps.median);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f / %.2f (%.2fx)", c.stsw_gbps.median, c.fio_gbps.median,
                  c.ratio.median);
  }
  return c.errors.empty() ? buf : std::string(buf) + " !";
}

boost::json::object summary(const Summary& s) {
  return {{"median", s.median}, {"min", s.min}, {"max", s.max}, {"count", s.count}};
}

}  // namespace

void print_sweep(std::FILE* out, const SweepResult& r) {
  std::fprintf(out, "stsw-bench sweep: %s %s, %s per cell, %u repetition(s), backend %s, fio %s\n",
               r.target_kind.c_str(), r.path.c_str(), format_bytes(r.config.size).c_str(),
               r.config.repetitions, r.backend.c_str(),
               r.fio_version.empty() ? "not run" : r.fio_version.c_str());
  std::fprintf(out,
               "cells: stsw Engine GB/s / fio GB/s (stsw/fio), medians; rows block size, "
               "columns queue depth; '!' = a repetition failed\n");
  for (bool write : {true, false}) {
    std::vector<const SweepCell*> cells;
    for (const auto& c : r.cells)
      if (c.write == write) cells.push_back(&c);
    if (cells.empty()) continue;
    std::fprintf(out, "\n%s\n", write ? "write (through fdatasync)" : "read (cold)");
    std::vector<std::string> header = {"bs \\ qd"};
    for (auto d : r.config.depths) header.push_back(std::to_string(d));
    TextTable t(header);
    for (auto bs : r.config.block_sizes) {
      std::vector<std::string> line = {format_size_short(bs)};
      for (auto d : r.config.depths) {
        std::string text = "-";
        for (const auto* c : cells)
          if (c->block_size == bs && c->depth == d) text = cell_text(*c);
        line.push_back(text);
      }
      t.add(line);
    }
    t.print(out);
  }
  for (const auto& c : r.cells)
    for (const auto& e : c.errors)
      std::fprintf(out, "error: %s bs %s qd %u: %s\n", c.write ? "write" : "read",
                   format_size_short(c.block_size).c_str(), c.depth, e.c_str());
  for (const auto& n : r.notes) std::fprintf(out, "note: %s\n", n.c_str());
}

void write_sweep_csv(std::ostream& out, const SweepResult& r) {
  out << "rw,block_size,queue_depth,stsw_gbps_median,stsw_gbps_min,stsw_gbps_max,fio_gbps_median,"
         "fio_gbps_min,fio_gbps_max,ratio_median,stsw_cpu_s_per_gb,fio_cpu_s_per_gb,errors\n";
  for (const auto& c : r.cells) {
    out << (c.write ? "write" : "read") << ',' << c.block_size << ',' << c.depth << ','
        << c.stsw_gbps.median << ',' << c.stsw_gbps.min << ',' << c.stsw_gbps.max << ','
        << c.fio_gbps.median << ',' << c.fio_gbps.min << ',' << c.fio_gbps.max << ','
        << c.ratio.median << ',' << c.stsw_cpu_per_gb.median << ',' << c.fio_cpu_per_gb.median
        << ',' << c.errors.size() << '\n';
  }
}

void write_sweep_json(std::ostream& out, const SweepResult& r) {
  boost::json::array cells;
  for (const auto& c : r.cells) {
    boost::json::array errors;
    for (const auto& e : c.errors) errors.emplace_back(e);
    cells.push_back({{"rw", c.write ? "write" : "read"},
                     {"block_size", c.block_size},
                     {"queue_depth", c.depth},
                     {"stsw_gbps", summary(c.stsw_gbps)},
                     {"fio_gbps", summary(c.fio_gbps)},
                     {"ratio_to_fio", summary(c.ratio)},
                     {"stsw_cpu_s_per_gb", summary(c.stsw_cpu_per_gb)},
                     {"fio_cpu_s_per_gb", summary(c.fio_cpu_per_gb)},
                     {"errors", std::move(errors)}});
  }
  boost::json::array notes;
  for (const auto& n : r.notes) notes.emplace_back(n);
  boost::json::object doc{{"tool", "stsw-bench sweep"}, {"schema", 1},
                          {"target", r.path},           {"target_kind", r.target_kind},
                          {"size", r.config.size},      {"repetitions", r.config.repetitions},
                          {"backend", r.backend},       {"fio_version", r.fio_version},
                          {"cells", std::move(cells)},  {"notes", std::move(notes)}};
  out << plain_json_numbers(boost::json::serialize(doc)) << "\n";
}

}  // namespace stsw::bench
