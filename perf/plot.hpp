// Pictures of a harness run (`stsw-bench --plot FILE.svg`, `stsw-bench sweep --plot
// FILE.svg`; FILE.png works too, through gnuplot's pngcairo terminal), drawn by gnuplot (Debian:
// gnuplot-nox), which the harness runs as a child process on a generated script and data file;
// nothing is drawn by hand.
//
//   - a run: one bar per row, the median GB/s (error bars: min to max), with the ratio to
//     the fio reference of the same workload written above each bar that has one (the
//     number the suite is about);
//   - a sweep: one heatmap per direction, block size down, queue depth across, coloured
//     and labelled by stsw / fio (or stsw GB/s without fio).
//
// Errors: stsw::Error InvalidArgument when FILE ends in neither ".svg" nor ".png"; Unsupported when
// gnuplot is not installed (the message says what to install); Io when gnuplot fails or
// FILE cannot be written. The temporary script and data are removed in every case.
#pragma once

#include <string>

#include "results.hpp"
#include "sweep.hpp"

namespace stsw::bench {

// Throws unless `path` ends in ".svg" or ".png" and gnuplot is found: checked before a run
// starts.
void check_plot_target(const std::string& path);

void plot_report(const BenchReport& report, const std::string& svg_path);
void plot_sweep(const SweepResult& result, const std::string& svg_path);

}  // namespace stsw::bench
