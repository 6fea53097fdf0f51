#include "bench_cli.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "config.hpp"
#include "plot.hpp"
#include "report.hpp"
#include "runner.hpp"
#include "stsw/error.hpp"
#include "sweep.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

// Raw option values; turned into a BenchConfig after parsing so that explicit options
// override the suite's settings whatever their order on the command line.
struct RawOptions {
  std::string suite = "standard";
  bool quick = false;
  std::string dir = ".";
  std::string size = "4GiB";
  std::string mix = "llm";
  std::vector<std::string> workloads;
  unsigned reps = 3;
  std::string chunk = "8MiB";
  unsigned qd = 8;
  unsigned buffers = 6;
  unsigned workers = 1;
  std::string backend = "auto";
  std::string io_mode = "auto";
  std::string read_mode = "auto";
  std::string dst_layout = "page";
  std::string cache_drop = "auto";
  std::string fio = "fio";
  bool fio_hugepages = false;
  std::string fio_sweep = "256MiB";
  bool realtime = false;
  std::vector<std::string> baselines;
  bool no_crc_rows = false;
  bool no_register_files = false;
  bool engine_rows = false;
  bool fresh_memory = false;
  bool loader_no_read_ahead = false;
  std::string json;
  std::string csv;
  std::string plot;
  bool keep = false;
  bool quiet = false;
};

struct RawSweep {
  std::string target = ".";
  std::vector<std::string> bs = {"1M", "4M", "8M", "16M"};
  std::vector<unsigned> qd = {1, 4, 8, 16, 32};
  std::string rw = "both";
  std::string size = "1GiB";
  unsigned reps = 1;
  bool no_fio = false;
  std::string fio = "fio";
  std::string backend = "auto";
  std::string io_mode = "direct";
  std::string cache_drop = "file";
  bool allow_device_write = false;
  std::string csv;
  std::string json;
  std::string plot;
  bool quiet = false;
};

struct State {
  RawOptions o;
  RawSweep s;
  CLI::App* app = nullptr;
  CLI::App* sweep = nullptr;
};

[[noreturn]] void bad(const std::string& m) { throw Error(Errc::InvalidArgument, m); }

std::uint64_t size_opt(const std::string& name, const std::string& v) {
  auto s = parse_size(v);
  if (!s) bad(name + ": not a size: '" + v + "' (e.g. 4GiB, 64M, 4096)");
  return *s;
}

template <typename T, typename F>
T enum_opt(const std::string& name, const std::string& v, F parse) {
  auto r = parse(v);
  if (!r) bad(name + ": unknown value '" + v + "'");
  return *r;
}

bool given(const CLI::App& app, const char* name) { return app.count(name) > 0; }

BenchConfig make_config(const State& st) {
  const RawOptions& o = st.o;
  const CLI::App& app = *st.app;
  BenchConfig c;
  if (o.quick || o.suite == "quick") {
    apply_quick_suite(c);
  } else if (o.suite == "standard") {
    apply_standard_suite(c);
  } else if (o.suite != "custom") {
    bad("--suite: unknown suite '" + o.suite + "' (standard, quick, custom)");
  }
  if (given(app, "--dir")) c.dir = o.dir;
  if (given(app, "--size")) c.size = size_opt("--size", o.size);
  if (given(app, "--mix")) c.mix = enum_opt<TensorMix>("--mix", o.mix, parse_mix);
  if (given(app, "--workloads")) {
    c.workloads.clear();
    for (const auto& w : o.workloads)
      c.workloads.push_back(enum_opt<Workload>("--workloads", w, parse_workload));
  }
  if (given(app, "--reps")) c.repetitions = o.reps;
  if (given(app, "--chunk")) c.chunk_size = static_cast<std::size_t>(size_opt("--chunk", o.chunk));
  if (given(app, "--qd")) c.queue_depth = o.qd;
  if (given(app, "--buffers")) c.buffer_count = o.buffers;
  if (given(app, "--workers")) c.worker_threads = o.workers;
  c.backend = enum_opt<BackendKind>("--backend", o.backend, parse_backend);
  c.io_mode = enum_opt<IoMode>("--io-mode", o.io_mode, parse_io_mode);
  c.read_mode = enum_opt<ReadMode>("--read-mode", o.read_mode, parse_read_mode);
  c.dst_layout = enum_opt<DstLayout>("--dst-layout", o.dst_layout, parse_dst_layout);
  if (given(app, "--cache-drop"))
    c.cache_drop = enum_opt<CacheDrop>("--cache-drop", o.cache_drop, parse_cache_drop);
  c.fio = o.fio;
  c.fio_hugepages = o.fio_hugepages;
  if (o.fio_sweep == "0" || o.fio_sweep == "off") {
    c.fio_sweep_size = 0;
  } else {
    c.fio_sweep_size = size_opt("--fio-sweep", o.fio_sweep);
  }
  c.realtime = o.realtime;
  c.register_files = !o.no_register_files;
  if (given(app, "--baselines")) {
    c.baselines = Baselines{false, false, false, false};
    for (const auto& b : o.baselines) {
      if (b == "fio")
        c.baselines.fio = true;
      else if (b == "naive")
        c.baselines.naive = true;
      else if (b == "mmap")
        c.baselines.mmap = true;
      else if (b == "pread")
        c.baselines.pread = true;
      else if (b != "none")
        bad("--baselines: unknown baseline '" + b + "' (fio, naive, mmap, pread, none)");
    }
  }
  if (o.no_crc_rows) c.write_nocrc = false;
  if (o.engine_rows) c.engine_rows = true;
  if (o.fresh_memory) c.fresh_memory = true;
  if (o.loader_no_read_ahead) c.loader_no_read_ahead = true;
  c.json_path = o.json;
  c.csv_path = o.csv;
  c.keep_files = o.keep;
  c.quiet = o.quiet;
  if (c.suite == "standard" &&
      app.count("--workloads") + app.count("--size") + app.count("--mix") > 0) {
    c.suite = "standard (modified)";
  }
  return c;
}

void with_output(const std::string& path, const std::function<void(std::ostream&)>& fn) {
  if (path.empty()) return;
  if (path == "-") {
    fn(std::cout);
    std::cout.flush();
    return;
  }
  std::ofstream f(path);
  if (!f) throw Error(Errc::Io, "cannot create " + path);
  fn(f);
  if (!f) throw Error(Errc::Io, "write " + path + " failed");
}

// Runs this short measure start-up, caches and timer noise, not the disk: say so in the
// report (table and JSON notes) and on stderr.
void note_short_runs(BenchReport& rep) {
  std::size_t runs = 0, short_runs = 0;
  double shortest = 0;
  for (const Row& row : rep.rows) {
    for (std::size_t i = 0; i < row.samples.size(); ++i) {
      if (!row.ok[i]) continue;
      ++runs;
      const double s = row.samples[i].seconds;
      if (s >= 1.0) continue;
      shortest = short_runs++ == 0 ? s : std::min(shortest, s);
    }
  }
  if (short_runs == 0) return;
  char text[256];
  std::snprintf(text, sizeof text,
                "%zu of %zu runs lasted under 1 s (shortest %.3f s): such timings measure "
                "start-up and noise more than the disk; raise --size for figures to quote",
                short_runs, runs, shortest);
  rep.notes.emplace_back(text);
  std::fprintf(stderr, "stsw-bench: warning: %s\n", text);
}

int run_main(const State& st) {
  BenchConfig c = make_config(st);
  if (!st.o.plot.empty()) check_plot_target(st.o.plot);  // before minutes of measuring
  BenchReport rep = run_benchmark(c);
  note_short_runs(rep);
  print_table(c.json_path == "-" || c.csv_path == "-" ? stderr : stdout, rep);
  with_output(c.json_path, [&](std::ostream& o) { write_json(o, rep); });
  with_output(c.csv_path, [&](std::ostream& o) { write_csv(o, rep); });
  if (!st.o.plot.empty()) plot_report(rep, st.o.plot);
  for (const Row& r : rep.rows)
    if (!r.errors.empty()) return 1;
  return 0;
}

int run_sweep_cmd(const State& st) {
  const RawSweep& s = st.s;
  SweepConfig c;
  c.target = s.target;
  c.block_sizes.clear();
  for (const auto& b : s.bs) c.block_sizes.push_back(size_opt("--bs", b));
  c.depths = s.qd;
  if (s.rw == "read")
    c.write = false;
  else if (s.rw == "write")
    c.read = false;
  else if (s.rw != "both")
    bad("--rw: read, write or both");
  c.size = size_opt("--size", s.size);
  c.repetitions = s.reps;
  c.fio = !s.no_fio;
  c.fio_path = s.fio;
  c.backend = enum_opt<BackendKind>("--backend", s.backend, parse_backend);
  c.io_mode = enum_opt<IoMode>("--io-mode", s.io_mode, parse_io_mode);
  c.cache_drop = enum_opt<CacheDrop>("--cache-drop", s.cache_drop, parse_cache_drop);
  c.allow_device_write = s.allow_device_write;
  c.csv_path = s.csv;
  c.json_path = s.json;
  c.quiet = s.quiet;
  if (!s.plot.empty()) check_plot_target(s.plot);
  SweepResult r = run_sweep(c);
  print_sweep(c.json_path == "-" || c.csv_path == "-" ? stderr : stdout, r);
  with_output(c.csv_path, [&](std::ostream& o) { write_sweep_csv(o, r); });
  with_output(c.json_path, [&](std::ostream& o) { write_sweep_json(o, r); });
  if (!s.plot.empty()) plot_sweep(r, s.plot);
  for (const auto& cell : r.cells)
    if (!cell.errors.empty()) return 1;
  return 0;
}

void add_main_options(CLI::App& app, RawOptions& o) {
  app.add_option("--suite", o.suite,
                 "standard (4 GiB llm, write/read/verify, all baselines, 3 reps), quick, custom")
      ->capture_default_str();
  app.add_flag("--quick", o.quick,
               "64 MiB, every workload and baseline, 1 repetition (smoke test)");
  app.add_option("--dir", o.dir, "directory for the benchmark files (any device)")
      ->capture_default_str();
  app.add_option("--size", o.size, "file size, e.g. 4GiB, 512M")->capture_default_str();
  app.add_option("--mix", o.mix, "tensor sizes: llm or uniform:SIZE")->capture_default_str();
  app.add_option("--workloads", o.workloads, "write,read-cold,read-warm,verify,roundtrip")
      ->delimiter(',');
  app.add_option("--reps", o.reps, "repetitions (interleaved)")->capture_default_str();
  app.add_option("--chunk", o.chunk, "engine chunk size = fio block size")->capture_default_str();
  app.add_option("--qd", o.qd, "queue depth (engine and fio)")->capture_default_str();
  app.add_option("--buffers", o.buffers, "engine staging buffers")->capture_default_str();
  app.add_option("--workers", o.workers, "engine CRC/copy worker threads")->capture_default_str();
  app.add_option("--backend", o.backend, "auto, uring, threads")->capture_default_str();
  app.add_option("--io-mode", o.io_mode, "writes and raw engine: auto, direct, buffered, dontcache")
      ->capture_default_str();
  app.add_option("--read-mode", o.read_mode, "read_into: auto, direct, buffered, mmap")
      ->capture_default_str();
  app.add_option("--dst-layout", o.dst_layout,
                 "read_into destinations: page (each tensor page-aligned, like torch.empty), "
                 "packed, congruent (zero-copy O_DIRECT)")
      ->capture_default_str();
  app.add_option("--cache-drop", o.cache_drop, "cold reads: auto, global, file, none")
      ->capture_default_str();
  app.add_option("--fio", o.fio, "fio executable")->capture_default_str();
  app.add_flag("--fio-hugepages", o.fio_hugepages,
               "also run fio with huge-page buffers (iomem=shmhuge; raises nr_hugepages for "
               "the run, root only)");
  app.add_option("--fio-sweep", o.fio_sweep,
                 "bytes per job of the short fio sweep that finds 'fio best' (the reference of "
                 "x fio); 0 or off: fio's default job is the reference")
      ->capture_default_str();
  app.add_flag("--realtime", o.realtime,
               "run under SCHED_FIFO (stsw and fio alike) on a machine busy with other work");
  app.add_option("--baselines", o.baselines, "fio,naive,mmap,pread or none (default all)")
      ->delimiter(',');
  app.add_flag("--no-crc-rows", o.no_crc_rows, "skip the crc-off rows (write and read)");
  app.add_flag("--engine-rows", o.engine_rows, "add raw Engine write/read rows");
  app.add_flag("--no-register-files", o.no_register_files,
               "engine: plain descriptors, not io_uring registered files (for an A/B)");
  app.add_flag("--loader-no-read-ahead", o.loader_no_read_ahead,
               "add the packed loader rows with the reader's read-ahead off");
  app.add_flag("--fresh-memory", o.fresh_memory,
               "add a read_into row into fresh, unfaulted memory");
  app.add_option("--json", o.json, "write the JSON report to FILE ('-': stdout)");
  app.add_option("--csv", o.csv, "write a CSV line per row to FILE ('-': stdout)");
  app.add_option("--plot", o.plot,
                 "draw the rows' GB/s and their ratio to fio into FILE.svg (needs gnuplot)");
  app.add_flag("--keep-files", o.keep, "keep the benchmark files");
  app.add_flag("--quiet", o.quiet, "no progress lines on stderr");
}

void add_sweep_options(CLI::App& app, RawSweep& s) {
  app.add_option("--target", s.target, "directory (scratch file), file or block device")
      ->capture_default_str();
  app.add_option("--bs", s.bs, "block sizes")->delimiter(',');
  app.add_option("--qd", s.qd, "queue depths")->delimiter(',');
  app.add_option("--rw", s.rw, "read, write or both")->capture_default_str();
  app.add_option("--size", s.size, "bytes per cell and repetition")->capture_default_str();
  app.add_option("--reps", s.reps, "repetitions per cell (stsw and fio alternate)")
      ->capture_default_str();
  app.add_flag("--no-fio", s.no_fio, "stsw only");
  app.add_option("--fio", s.fio, "fio executable")->capture_default_str();
  app.add_option("--backend", s.backend, "auto, uring, threads")->capture_default_str();
  app.add_option("--io-mode", s.io_mode, "direct, buffered, auto, dontcache")
      ->capture_default_str();
  app.add_option("--cache-drop", s.cache_drop, "before reads: file, global, auto, none")
      ->capture_default_str();
  app.add_flag("--allow-device-write", s.allow_device_write,
               "permit writes to a block device (destroys data)");
  app.add_option("--csv", s.csv, "write the matrix as CSV to FILE ('-': stdout)");
  app.add_option("--json", s.json, "write the matrix as JSON to FILE ('-': stdout)");
  app.add_option("--plot", s.plot,
                 "draw the block size x queue depth heatmap into FILE.svg (needs gnuplot)");
  app.add_flag("--quiet", s.quiet, "no progress lines on stderr");
}

}  // namespace

std::function<int()> attach_bench_cli(CLI::App& app) {
  auto st = std::make_shared<State>();
  st->app = &app;
  add_main_options(app, st->o);
  st->sweep =
      app.add_subcommand("sweep", "block size x queue depth matrix, stsw Engine beside fio");
  add_sweep_options(*st->sweep, st->s);
  return [st] { return st->sweep->parsed() ? run_sweep_cmd(*st) : run_main(*st); };
}

}  // namespace stsw::bench
