#include "plot.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "process.hpp"
#include "stsw/error.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

// A scratch directory for the script and data, removed with everything in it.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "stsw-plot-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw Error(Errc::Io, "--plot: cannot create a temporary directory in " +
                                std::filesystem::temp_directory_path().string());
    }
    path_ = tmpl;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  [[nodiscard]] std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::string gnuplot_path() {
  const auto found = find_program("gnuplot");
  if (!found) {
    throw Error(Errc::Unsupported,
                "--plot draws with gnuplot, which is not installed (Debian: apt install "
                "gnuplot-nox)");
  }
  return *found;
}

// A string literal for a gnuplot script (single quotes; a quote is doubled).
std::string quoted(const std::string& s) {
  std::string out = "'";
  for (const char c : s) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

// A double-quoted gnuplot string, where "\n" breaks the line.
std::string dquoted(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw Error(Errc::Io, "--plot: cannot write " + path);
}

void run_gnuplot(const ScratchDir& dir, const std::string& script, const std::string& svg) {
  write_text(dir.file("plot.gp"), script);
  const ChildRun r = run_child({gnuplot_path(), dir.file("plot.gp")});
  if (r.exit_code != 0) {
    throw Error(Errc::Io, "--plot: gnuplot failed (exit " + std::to_string(r.exit_code) +
                              "): " + r.err.substr(0, 400));
  }
  if (!std::filesystem::exists(svg)) throw Error(Errc::Io, "--plot: gnuplot wrote no " + svg);
}

std::string header(const std::string& path, int width, int height) {
  std::ostringstream s;
  if (path.ends_with(".png")) {
    s << "set terminal pngcairo size " << width << "," << height
      << " noenhanced font 'sans,10' background rgb 'white'\n";
  } else {
    s << "set terminal svg size " << width << "," << height
      << " dynamic noenhanced font 'sans,11' background rgb 'white'\n";
  }
  s << "set output " << quoted(path) << "\n"
    << "set datafile separator '\\t'\n";
  return s.str();
}

}  // namespace

void check_plot_target(const std::string& path) {
  if (!path.ends_with(".svg") && !path.ends_with(".png")) {
    throw Error(Errc::InvalidArgument,
                "--plot " + path +
                    ": the picture is an SVG or PNG file; name it FILE.svg or "
                    "FILE.png");
  }
  (void)gnuplot_path();
}

void plot_report(const BenchReport& rep, const std::string& svg) {
  check_plot_target(svg);
  ScratchDir dir;
  std::ostringstream data;
  std::size_t n = 0;
  for (const Row& row : rep.rows) {
    const RowSummary s = summarize_row(rep, row);
    if (s.gbps.count == 0) continue;
    char ratio[32] = "";
    if (s.vs_fio && s.vs_fio->count > 0)
      std::snprintf(ratio, sizeof ratio, "%.2fx", s.vs_fio->median);
    const int color = row.impl == "fio" || row.impl == "fio-huge" || row.impl == "fio-copy" ? 2
                      : row.is_stsw()                                                       ? 1
                                                                                            : 3;
    data << n++ << '\t' << row.id << '\t' << s.gbps.median << '\t' << s.gbps.min << '\t'
         << s.gbps.max << '\t' << color << '\t' << ratio << '\n';
  }
  if (n == 0) throw Error(Errc::InvalidArgument, "--plot: no row has a successful run to draw");
  write_text(dir.file("rows.tsv"), data.str());
  std::ostringstream gp;
  gp << header(svg, std::max<int>(900, static_cast<int>(n) * 42 + 200), 620) << "set title "
     << dquoted("stsw-bench, " + rep.config.suite + " suite, " + format_bytes(rep.config.size) +
                " checkpoint: median GB/s per row, error bars from min to max\nabove the "
                "bars: speed as a multiple of fio's reference for the same work (1.00x = as "
                "fast as fio)")
     << "\n"
     << "set ylabel 'GB/s (10^9 bytes per second, higher is better)'\n"
     << "set style fill solid 0.8 border -1\nset boxwidth 0.7\nset grid ytics\n"
     << "set xtics rotate by -45 left nomirror\nset yrange [0:*]\n"
     << "set offsets 0, 0, graph 0.12, 0\nset key below horizontal\n"
     << "set xrange [-0.6:" << n - 0.4 << "]\n"
     << "set linetype 1 lc rgb '#1f77b4'\nset linetype 2 lc rgb '#7f7f7f'\n"
     << "set linetype 3 lc rgb '#ff7f0e'\n"
     << "plot " << quoted(dir.file("rows.tsv"))
     << " using 1:3:6:xtic(2) with boxes lc variable notitle, \\\n"
     << "  '' using 1:3:4:5 with yerrorbars lc rgb 'black' pt -1 notitle, \\\n"
     << "  '' using 1:5:7 with labels offset 0,1 font 'sans,9' notitle, \\\n"
     << "  NaN with boxes lc 1 title 'stsw', NaN with boxes lc 2 title 'fio (reference)', \\\n"
     << "  NaN with boxes lc 3 title 'naive / mmap / pread baselines'\n";
  run_gnuplot(dir, gp.str(), svg);
}

void plot_sweep(const SweepResult& r, const std::string& svg) {
  check_plot_target(svg);
  ScratchDir dir;
  const auto& c = r.config;
  const bool with_fio = !r.fio_version.empty();
  std::vector<bool> directions;
  if (c.read) directions.push_back(false);
  if (c.write) directions.push_back(true);
  std::ostringstream gp;
  const int rows = static_cast<int>(directions.size());
  gp << header(svg, 560 * rows + 80, 560) << "set multiplot layout 1," << rows << " title "
     << quoted(std::string("stsw-bench sweep on ") + r.target_kind + " " + r.path + ": " +
               (with_fio ? "stsw / fio throughput ratio per cell (1.0 = as fast as fio)"
                         : "stsw GB/s per cell (fio not installed)"))
     << "\n"
     << "set palette defined (0 '#d73027', 0.5 '#fee08b', 1 '#1a9850')\n"
     << "set xlabel 'queue depth (requests in flight)'\nset ylabel 'block size'\n"
     << "unset key\nset tics nomirror\n";
  if (with_fio) gp << "set cbrange [0.5:1.1]\nset cblabel 'stsw / fio'\n";
  std::string xtics, ytics;
  for (std::size_t i = 0; i < c.depths.size(); ++i) {
    xtics += (i ? ", " : "") + quoted(std::to_string(c.depths[i])) + " " + std::to_string(i);
  }
  for (std::size_t i = 0; i < c.block_sizes.size(); ++i) {
    ytics +=
        (i ? ", " : "") + quoted(format_size_short(c.block_sizes[i])) + " " + std::to_string(i);
  }
  gp << "set xtics (" << xtics << ")\nset ytics (" << ytics << ")\n"
     << "set xrange [-0.5:" << c.depths.size() - 0.5
     << "]\nset yrange [-0.5:" << c.block_sizes.size() - 0.5 << "]\n";
  for (const bool write : directions) {
    std::ostringstream data;
    for (const SweepCell& cell : r.cells) {
      if (cell.write != write) continue;
      const auto x = std::find(c.depths.begin(), c.depths.end(), cell.depth) - c.depths.begin();
      const auto y = std::find(c.block_sizes.begin(), c.block_sizes.end(), cell.block_size) -
                     c.block_sizes.begin();
      const double v = with_fio ? cell.ratio.median : cell.stsw_gbps.median;
      char label[64];
      std::snprintf(label, sizeof label, with_fio ? "%.2f (%.2f GB/s)" : "%.2f GB/s", v,
                    cell.stsw_gbps.median);
      data << x << '\t' << y << '\t' << v << '\t' << label << '\n';
    }
    const std::string file = dir.file(write ? "write.tsv" : "read.tsv");
    write_text(file, data.str());
    gp << "set title " << quoted(write ? "sequential write" : "sequential read") << "\n"
       << "plot " << quoted(file)
       << " using 1:2:(0.5):(0.5):3 with boxxyerror fs solid 1.0 noborder "
       << "fc palette, '' using 1:2:4 with labels "
       << "font 'sans,9'\n";
  }
  gp << "unset multiplot\n";
  run_gnuplot(dir, gp.str(), svg);
}

}  // namespace stsw::bench
