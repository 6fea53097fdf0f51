// Reports of a harness run: a readable table for the terminal, JSON for tracking (every
// sample, summary and ratio), and CSV (one line per row).
#pragma once

#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "results.hpp"

namespace stsw::bench {

// The table (plus the run's header lines and notes).
void print_table(std::FILE* out, const BenchReport& report);

// The whole report as one JSON document ("tool": "stsw-bench", "schema": 1).
void write_json(std::ostream& out, const BenchReport& report);

// CSV: group,id,impl,label,reps,bytes,gbps_median,gbps_min,gbps_max,vs_fio_median,...
void write_csv(std::ostream& out, const BenchReport& report);

// Fixed-width text table helper shared by the reports and the sweep.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> header) : rows_{std::move(header)} {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

// "1.23 [1.10-1.30]" (or "1.23" when count <= 1, "-" when empty), `digits` decimals.
[[nodiscard]] std::string format_summary(const Summary& s, int digits = 2);

}  // namespace stsw::bench
