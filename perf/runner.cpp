#include "runner.hpp"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>

#include "fio.hpp"
#include "fio_best.hpp"
#include "page_cache.hpp"
#include "process.hpp"
#include "rows.hpp"
#include "stsw/error.hpp"
#include "stsw/writer.hpp"
#include "system_tuning.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

bool needs_reads(const BenchConfig& c) {
  return std::any_of(c.workloads.begin(), c.workloads.end(),
                     [](Workload w) { return w != Workload::Write; });
}

std::string fs_type_name(const std::string& dir) {
  struct statfs st {};
  if (::statfs(dir.c_str(), &st) != 0) return "unknown";
  switch (static_cast<unsigned long>(st.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x65735546: return "fuse";
    case 0x6969: return "nfs";
    case 0x794c7630: return "overlayfs";
    default: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "0x%lx", static_cast<unsigned long>(st.f_type));
      return buf;
    }
  }
}

Environment probe_environment(const BenchConfig& c) {
  Environment e;
  utsname u{};
  if (::uname(&u) == 0) e.kernel = std::string(u.sysname) + " " + u.release;
  e.cpus = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  e.memory = static_cast<std::uint64_t>(::sysconf(_SC_PHYS_PAGES)) *
             static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  e.fs_type = fs_type_name(c.dir);
  return e;
}

void check_space(const BenchConfig& c, std::uint64_t file_size) {
  struct statvfs st {};
  if (::statvfs(c.dir.c_str(), &st) != 0) throw errno_error(errno, "statvfs " + c.dir);
  const std::uint64_t avail = static_cast<std::uint64_t>(st.f_bavail) * st.f_frsize;
  const std::uint64_t need = file_size * (needs_reads(c) ? 2 : 1) + (std::uint64_t{64} << 20);
  if (avail < need) {
    throw Error(Errc::NoSpace,
                c.dir + ": " + format_bytes(avail) + " free, the run needs " + format_bytes(need));
  }
}

void progress(const BenchConfig& c, const char* fmt, auto... args) {
  if (c.quiet) return;
  std::fprintf(stderr, fmt, args...);
  std::fflush(stderr);
}

std::shared_ptr<Engine> make_engine(const BenchConfig& c) {
  EngineOptions o;
  o.backend = c.backend;
  o.chunk_size = c.chunk_size;
  o.queue_depth = c.queue_depth;
  o.buffer_count = c.buffer_count;
  o.worker_threads = c.worker_threads;
  o.register_files = c.register_files;
  return Engine::create(o);
}

bool has(const BenchConfig& c, Workload w) {
  return std::find(c.workloads.begin(), c.workloads.end(), w) != c.workloads.end();
}

// The short fio sweeps that find "fio best" (fio_best.hpp): writes on a scratch file in
// --dir, reads (cold) on the file the stsw reads use.
void run_fio_sweeps(RunContext& ctx, BenchReport& rep) {
  const BenchConfig& cfg = *ctx.config;
  const std::uint64_t full = ctx.file->official_file_size();
  const std::uint64_t small = std::min(cfg.fio_sweep_size, full);
  if (has(cfg, Workload::Write)) {
    progress(cfg, "stsw-bench: fio sweep (write, %s per job) for 'fio best'\n",
             format_bytes(small).c_str());
    const std::string t = ctx.prefix + "fio-sweep.safetensors";
    FioJob base;
    base.filename = t;
    base.write = true;
    base.direct = ctx.fio_direct_write;
    FioSweep sw = run_fio_sweep(ctx.fio, base, small, [&](const FioJob&) { remove_and_sync(t); });
    remove_and_sync(t);
    ctx.fio_best_write = best_job(sw, ctx.prefix + "write.safetensors", full);
    rep.fio_sweeps.push_back(std::move(sw));
  }
  if (has(cfg, Workload::ReadCold) || has(cfg, Workload::Verify)) {
    progress(cfg, "stsw-bench: fio sweep (cold read, %s per job) for 'fio best'\n",
             format_bytes(small).c_str());
    FioJob base;
    base.filename = ctx.read_path;
    base.direct = cfg.read_mode != ReadMode::Buffered && cfg.read_mode != ReadMode::Mmap;
    FioSweep sw = run_fio_sweep(ctx.fio, base, small, [&](const FioJob&) {
      (void)drop_cache(ctx.read_path, cfg.cache_drop);
    });
    ctx.fio_best_read = best_job(sw, ctx.read_path, rep.file.file_size);
    rep.fio_sweeps.push_back(std::move(sw));
  }
  for (const auto& sw : rep.fio_sweeps) {
    if (!sw.best) {
      rep.notes.push_back(std::string("every fio sweep job (") + (sw.write ? "write" : "read") +
                          ") failed: fio's default job is the reference; first error: " +
                          (sw.trials.empty() ? "none ran" : sw.trials.front().error));
    }
  }
}

}  // namespace

BenchReport run_benchmark(const BenchConfig& config) {
  validate(config);
  BenchReport rep;
  rep.config = config;
  const BenchConfig& cfg = rep.config;
  rep.env = probe_environment(cfg);

  const BenchFile file = make_bench_file(generate_mix(cfg.mix, cfg.size));
  rep.file.tensors = file.tensors.size();
  rep.file.data_size = file.data_size;
  rep.file.largest = file.largest;
  rep.file.smallest = file.largest;
  for (const auto& t : file.tensors) rep.file.smallest = std::min(rep.file.smallest, t.nbytes());
  rep.file.file_size = file.official_file_size();
  check_space(cfg, file.official_file_size());

  progress(cfg, "stsw-bench: preparing %s of source data and buffers\n",
           format_bytes(std::min<std::uint64_t>(file.data_size, std::uint64_t{1} << 30)).c_str());
  const TensorSource source(file, std::uint64_t{1} << 30);
  HugeBuffer dst;
  if (needs_reads(cfg))
    dst = HugeBuffer(static_cast<std::size_t>(
        std::max(file.official_file_size() + (1 << 20),
                 dst_bytes_needed(file.data_size, file.tensors.size()) + (1 << 20))));

  RunContext ctx;
  ctx.config = &cfg;
  ctx.file = &file;
  ctx.source = &source;
  ctx.dst = &dst;
  ctx.prefix = cfg.dir + "/stsw-bench-" + std::to_string(::getpid()) + "-";
  ctx.read_path = ctx.prefix + "read.safetensors";
  // Before the engine exists, so that its threads inherit the policy.
  const RealtimeScope realtime(cfg.realtime);
  rep.env.realtime = realtime.active();
  if (cfg.realtime && !realtime.active())
    rep.notes.push_back(realtime.note() + ": normal priority");
  const double t0 = now_seconds();
  ctx.stsw.engine = make_engine(cfg);
  rep.env.engine_setup_seconds = now_seconds() - t0;
  ctx.stsw.io_mode = cfg.io_mode;
  ctx.stsw.read_mode = cfg.read_mode;
  const EngineStats es = ctx.stsw.engine->stats();
  rep.env.backend = std::string(to_string(es.backend));
  rep.env.buffers_registered = es.buffers_registered;
  rep.env.register_files = cfg.register_files && es.backend == BackendKind::Uring;

  if (cfg.baselines.fio) {
    auto fio = find_program(cfg.fio);
    auto version = fio ? fio_version(*fio) : std::nullopt;
    if (version) {
      ctx.fio = *fio;
      rep.env.fio_version = *version;
    } else {
      rep.notes.push_back("fio (" + cfg.fio +
                          ") not found or not runnable: no fio rows, no ratios to fio");
    }
  }
  {
    CacheDrop d = cfg.cache_drop;
    if (d == CacheDrop::Auto) {
      d = ::access("/proc/sys/vm/drop_caches", W_OK) == 0 ? CacheDrop::Global : CacheDrop::File;
    }
    rep.env.cache_drop = d == CacheDrop::Global ? "drop_caches (global)"
                         : d == CacheDrop::File ? "posix_fadvise(DONTNEED) per file"
                                                : "none (cold figures are warm)";
    if (d == CacheDrop::File && cfg.cache_drop == CacheDrop::Auto) {
      rep.notes.push_back(
          "/proc/sys/vm/drop_caches not writable (not root): cold reads use "
          "posix_fadvise(DONTNEED) on the file; residency is checked with mincore");
    }
  }

  // The writer's effective mode decides fio's direct flag; probe it on the read file.
  {
    WriterOptions o;
    o.io_mode = cfg.io_mode;
    o.engine = ctx.stsw.engine;
    StreamWriter probe = StreamWriter::open(ctx.prefix + "probe.safetensors", file.tensors, o);
    rep.env.write_io_mode = std::string(to_string(probe.io_mode()));
    ctx.fio_direct_write = probe.io_mode() == IoMode::Direct;
    probe.abort();
  }
  if (needs_reads(cfg)) {
    progress(cfg, "stsw-bench: writing the %s file the reads use\n",
             format_bytes(file.official_file_size()).c_str());
    (void)stsw_write(ctx.read_path, file, source, true, ctx.stsw);
    struct stat st {};
    if (::stat(ctx.read_path.c_str(), &st) == 0)
      rep.file.file_size = static_cast<std::uint64_t>(st.st_size);
  }

  if (!ctx.fio.empty() && cfg.fio_sweep_size > 0) run_fio_sweeps(ctx, rep);

  std::vector<RowSpec> specs;
  std::vector<std::pair<std::size_t, std::size_t>> groups;  // [begin, end) per group
  for (Workload w : cfg.workloads) {
    auto rows = make_rows(ctx, w);
    groups.emplace_back(specs.size(), specs.size() + rows.size());
    for (auto& r : rows) specs.push_back(std::move(r));
  }
  for (const auto& s : specs)
    rep.rows.push_back(Row{s.group, s.id, s.label, s.impl, {}, {}, {}, s.reference});

  for (unsigned r = 0; r < cfg.repetitions; ++r) {
    for (const auto& [begin, end] : groups) {
      const std::size_t n = end - begin;
      for (std::size_t k = 0; k < n; ++k) {
        const std::size_t i = begin + (k + r) % n;
        Row& row = rep.rows[i];
        row.samples.resize(r + 1);
        row.ok.resize(r + 1, false);
        try {
          row.samples[r] = specs[i].run();
          row.ok[r] = true;
          progress(cfg, "[rep %u/%u] %-10s %-18s %7.3f GB/s  %6.2f s  cpu %5.2f s/GB\n", r + 1,
                   cfg.repetitions, std::string(to_string(row.group)).c_str(), row.id.c_str(),
                   row.samples[r].gbps(), row.samples[r].seconds, row.samples[r].cpu_per_gb());
        } catch (const std::exception& e) {
          row.errors.push_back("repetition " + std::to_string(r + 1) + ": " + e.what());
          progress(cfg, "[rep %u/%u] %-10s %-18s FAILED: %s\n", r + 1, cfg.repetitions,
                   std::string(to_string(row.group)).c_str(), row.id.c_str(), e.what());
        }
      }
    }
  }
  if (!cfg.keep_files) remove_and_sync(ctx.read_path);
  return rep;
}

}  // namespace stsw::bench
