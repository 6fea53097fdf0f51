#include "sweep.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "fio.hpp"
#include "memory.hpp"
#include "process.hpp"
#include "rows.hpp"
#include "stsw/error.hpp"
#include "stsw_workloads.hpp"
#include "units.hpp"

namespace stsw::bench {
namespace {

struct Target {
  std::string kind;
  std::string path;
  bool device = false;
  bool scratch = false;  // created by the sweep, removed at the end
};

Target resolve_target(const SweepConfig& c) {
  struct stat st {};
  Target t;
  if (::stat(c.target.c_str(), &st) != 0) {
    if (errno != ENOENT) throw errno_error(errno, "stat " + c.target);
    t.kind = "file";
    t.path = c.target;
    return t;
  }
  if (S_ISDIR(st.st_mode)) {
    t.kind = "directory";
    t.path = c.target + "/stsw-sweep-" + std::to_string(::getpid()) + ".bin";
    t.scratch = true;
  } else if (S_ISBLK(st.st_mode)) {
    t.kind = "block device";
    t.path = c.target;
    t.device = true;
  } else if (S_ISREG(st.st_mode)) {
    t.kind = "file";
    t.path = c.target;
  } else {
    throw Error(Errc::InvalidArgument, c.target + ": not a directory, file or block device");
  }
  return t;
}

void validate(const SweepConfig& c, const Target& t) {
  auto fail = [](const std::string& m) { throw Error(Errc::InvalidArgument, m); };
  if (c.block_sizes.empty() || c.depths.empty()) fail("sweep: empty block size or depth list");
  if (!c.read && !c.write) fail("sweep: neither read nor write");
  for (auto bs : c.block_sizes)
    if (bs == 0 || bs % 4096 != 0) fail("sweep: block sizes must be multiples of 4096");
  for (auto d : c.depths)
    if (d == 0 || d > 4096) fail("sweep: depths must be in [1, 4096]");
  if (c.size < 4096 || c.repetitions == 0) fail("sweep: --size >= 4096 and --reps >= 1");
  if (t.device && c.write && !c.allow_device_write) {
    fail("sweep: writing " + t.path +
         " destroys its contents; pass --allow-device-write or --rw read");
  }
}

Summary summarize_vec(const std::vector<double>& v) {
  std::vector<double> pos;
  for (double x : v)
    if (x > 0) pos.push_back(x);
  return summarize(pos);
}

// Ratios of the repetitions where both sides succeeded.
Summary ratio_of(const std::vector<double>& a, std::vector<double> b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i)
    if (a[i] <= 0) b[i] = 0;
  return summarize(paired_ratios(a, b));
}

}  // namespace

SweepResult run_sweep(const SweepConfig& config) {
  SweepResult res;
  res.config = config;
  const Target target = resolve_target(config);
  validate(config, target);
  res.target_kind = target.kind;
  res.path = target.path;
  std::string fio;
  if (config.fio) {
    auto p = find_program(config.fio_path);
    auto v = p ? fio_version(*p) : std::nullopt;
    if (v) {
      fio = *p;
      res.fio_version = *v;
    } else {
      res.notes.push_back("fio not found: stsw figures only");
    }
  }
  const std::uint64_t size = config.size / 4096 * 4096;
  HugeBuffer buf(static_cast<std::size_t>(std::min<std::uint64_t>(size, std::uint64_t{1} << 30)),
                 config.write ? 0xC0FFEEULL : 0);
  // Reads need the bytes on disk first (a block device is read as it is).
  if (config.read && !target.device) {
    StswSettings s;
    s.engine = Engine::create({});
    s.io_mode = config.io_mode;
    (void)engine_write(target.path, size, buf.span(), s, WriteTarget::Overwrite);
  }
  for (bool write : {true, false}) {
    if ((write && !config.write) || (!write && !config.read)) continue;
    for (auto bs : config.block_sizes) {
      for (auto qd : config.depths) {
        SweepCell cell;
        cell.write = write;
        cell.block_size = bs;
        cell.depth = qd;
        EngineOptions eo;
        eo.backend = config.backend;
        eo.chunk_size = static_cast<std::size_t>(bs);
        eo.queue_depth = qd;
        eo.buffer_count = std::max(2U, qd);
        StswSettings s;
        s.engine = Engine::create(eo);
        s.io_mode = config.io_mode;
        if (res.backend.empty()) res.backend = std::string(to_string(s.engine->backend()));
        // Index = repetition; 0 where a side failed (skipped by the summaries).
        std::vector<double> sg(config.repetitions), fg(config.repetitions), sc(config.repetitions),
            fc(config.repetitions);
        for (unsigned r = 0; r < config.repetitions; ++r) {
          // Alternate which side goes first, so drift does not favour one.
          for (int k = 0; k < 2; ++k) {
            const bool stsw_turn = (k == 0) == (r % 2 == 0);
            try {
              if (!write) (void)drop_cache(target.path, config.cache_drop);
              Sample x;
              if (stsw_turn) {
                x = measure_in_process([&] {
                  return write ? engine_write(
                                     target.path, size, buf.span(), s,
                                     target.device ? WriteTarget::Device : WriteTarget::Overwrite)
                               : engine_read(target.path, buf.span(), s, size);
                });
                sg[r] = x.gbps();
                sc[r] = x.cpu_per_gb();
              } else if (!fio.empty()) {
                FioJob j;
                j.filename = target.path;
                j.write = write;
                j.size = size;
                j.block_size = static_cast<std::size_t>(bs);
                j.iodepth = qd;
                j.direct = config.io_mode != IoMode::Buffered;
                x = run_fio(fio, j);
                fg[r] = x.gbps();
                fc[r] = x.cpu_per_gb();
              }
            } catch (const std::exception& e) {
              cell.errors.push_back((stsw_turn ? "stsw: " : "fio: ") + std::string(e.what()));
            }
          }
        }
        cell.stsw_gbps = summarize_vec(sg);
        cell.fio_gbps = summarize_vec(fg);
        cell.ratio = ratio_of(sg, fg);
        cell.stsw_cpu_per_gb = summarize_vec(sc);
        cell.fio_cpu_per_gb = summarize_vec(fc);
        if (!config.quiet) {
          std::fprintf(stderr, "sweep %-5s bs %-5s qd %-3u stsw %6.3f GB/s  fio %6.3f GB/s\n",
                       write ? "write" : "read", format_size_short(bs).c_str(), qd,
                       cell.stsw_gbps.median, cell.fio_gbps.median);
        }
        res.cells.push_back(std::move(cell));
      }
    }
  }
  if (target.scratch) remove_and_sync(target.path);
  return res;
}

}  // namespace stsw::bench
