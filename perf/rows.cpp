#include "rows.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "fio.hpp"
#include "fio_copy.hpp"
#include "naive.hpp"
#include "page_cache.hpp"
#include "stsw/error.hpp"

namespace stsw::bench {
namespace {

// Marks a read sample with the cache state it started from.
Sample cold_read(const RunContext& ctx, const std::string& path,
                 const std::function<Sample()>& run) {
  DropResult d = drop_cache(path, ctx.config->cache_drop);
  Sample s = run();
  s.cold = d.cold;
  s.resident_before = d.resident;
  if (!d.cold) s.note += (s.note.empty() ? "" : "; ") + d.note;
  return s;
}

Sample warm_read(const std::string& path, const std::function<Sample()>& run) {
  const double resident = warm_cache(path);
  Sample s = run();
  s.resident_before = resident;
  return s;
}

// A write into a fresh target, deleted afterwards (outside the timed section).
Sample write_to(const RunContext& ctx, const std::string& target,
                const std::function<Sample()>& run) {
  remove_and_sync(target);
  Sample s = run();
  if (!ctx.config->keep_files) remove_and_sync(target);
  return s;
}

Sample sum(const Sample& a, const Sample& b) {
  Sample s;
  s.seconds = a.seconds + b.seconds;
  s.cpu_seconds = a.cpu_seconds + b.cpu_seconds;
  s.bytes = a.bytes + b.bytes;
  s.peak_rss_growth = std::max(a.peak_rss_growth, b.peak_rss_growth);
  s.peak_rss = std::max(a.peak_rss, b.peak_rss);
  s.peak_rss_own = std::max(a.peak_rss_own, b.peak_rss_own);
  s.cold = b.cold;
  s.resident_before = b.resident_before;
  s.note = a.note + (a.note.empty() || b.note.empty() ? "" : "; ") + b.note;
  return s;
}

FioJob fio_job(const RunContext& ctx, const std::string& path, bool write, std::uint64_t size,
               bool huge) {
  FioJob j;
  if (huge) j.iomem = "shmhuge";
  j.filename = path;
  j.write = write;
  j.size = size;
  j.block_size = ctx.config->chunk_size;
  j.iodepth = ctx.config->queue_depth;
  j.direct = write ? ctx.fio_direct_write
                   : ctx.config->read_mode != ReadMode::Buffered &&
                         ctx.config->read_mode != ReadMode::Mmap;
  return j;
}

std::uint64_t file_size_of(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw errno_error(errno, "open " + path);
  off_t end = ::lseek(fd, 0, SEEK_END);
  ::close(fd);
  return end < 0 ? 0 : static_cast<std::uint64_t>(end);
}

// The fio row (fio's default job: the reference of "x fio" unless a "fio best" row is in
// the group, a baseline then) and, with --fio-hugepages, the same job with huge-page
// buffers (iomem=shmhuge). `run(huge)` measures one repetition.
void add_fio_rows(const RunContext& c, std::vector<RowSpec>& rows, Workload g,
                  const std::string& id, const std::string& label,
                  const std::function<Sample(bool)>& run, bool reference = true) {
  if (c.fio.empty()) return;
  rows.push_back({g, id, label + (reference ? "" : " (default job)"),
                  reference ? "fio" : "fio-default", [run] { return run(false); }});
  if (c.fio_hugepages) {
    rows.push_back(
        {g, id + "-huge", label + ", huge-page buffers", "fio-huge", [run] { return run(true); }});
  }
}

std::string best_label(const FioJob& j) {
  return "fio best: " + std::to_string(j.block_size >> 20) + " MiB x QD" +
         std::to_string(j.iodepth) +
         (j.numjobs > 1 ? " x " + std::to_string(j.numjobs) + " jobs" : "") +
         ", fixed bufs+files, own bw";
}

// The "fio best" row: the sweep's best job at full size, by fio's own bandwidth.
void add_fio_best_row(const RunContext& c, std::vector<RowSpec>& rows, Workload g,
                      const std::string& id, const std::optional<FioJob>& job,
                      const std::function<Sample(const std::function<Sample()>&)>& wrap) {
  if (c.fio.empty() || !job) return;
  const FioJob j = *job;
  rows.push_back({g, id, best_label(j), "fio", [&c, j, wrap] {
                    return wrap([&c, j] { return run_fio(c.fio, j, nullptr, true); });
                  }});
}

// The "fio copy" row (fio_copy.hpp): the convert row's reference. A cold read of the
// convert row's input and a durable write of as many bytes into its target, at once, in
// the write's fio best job shape (fio's default job shape without a sweep).
void add_fio_copy_row(const RunContext& c, std::vector<RowSpec>& rows, const std::string& t) {
  if (c.fio.empty()) return;
  const std::uint64_t size = file_size_of(c.read_path);
  const FioJob shape = c.fio_best_write ? *c.fio_best_write : fio_job(c, t, true, size, false);
  const FioCopyJob job = fio_copy_job(shape, c.read_path, t, size);
  const std::string label = std::string("fio copy: cold read + write at once, ") +
                            (c.fio_best_write ? "fio best's job shape" : "default job shape") +
                            ", own bw";
  rows.push_back({Workload::Write, "fio-copy", label, "fio-copy", [&c, t, job] {
                    return write_to(c, t, [&] {
                      return cold_read(c, c.read_path, [&] { return run_fio_copy(c.fio, job); });
                    });
                  }});
}

void add_write_rows(const RunContext& c, std::vector<RowSpec>& rows) {
  const auto& cfg = *c.config;
  const std::string t = c.prefix + "write.safetensors";
  auto stsw_row = [&c, t](bool crc) {
    return [&c, t, crc] {
      return write_to(c, t, [&] {
        return measure_in_process([&] { return stsw_write(t, *c.file, *c.source, crc, c.stsw); });
      });
    };
  };
  rows.push_back(
      {Workload::Write, "stsw-write", "stsw StreamWriter, crc32", "stsw", stsw_row(true)});
  rows.push_back({Workload::Write, "stsw-write-at",
                  "stsw write_at, 16 threads, 1 MiB pieces shuffled, crc32", "stsw", [&c, t] {
                    return write_to(c, t, [&] {
                      return measure_in_process(
                          [&] { return stsw_write_at(t, *c.file, *c.source, c.stsw); });
                    });
                  }});
  const bool read_file = std::any_of(cfg.workloads.begin(), cfg.workloads.end(),
                                     [](Workload w) { return w != Workload::Write; });
  const bool convert = cfg.convert_row && read_file;
  if (convert) {
    // stsw convert of the read file into the write target, its input dropped from the page
    // cache (cold) or read into it (warm) first.
    auto convert_row = [&c, t](bool cold) {
      return [&c, t, cold] {
        return write_to(c, t, [&] {
          auto run = [&] {
            return measure_in_process([&] { return stsw_convert(c.read_path, t, c.stsw); });
          };
          return cold ? cold_read(c, c.read_path, run) : warm_read(c.read_path, run);
        });
      };
    };
    // Reads of the (cold) stsw file overlapped with the writes of the new one; its limit is
    // fio copy's (the same reads and writes at once), not the write-alone fio best.
    rows.push_back({Workload::Write, "stsw-convert",
                    "stsw convert safetensors -> safetensors (cold input), crc32", "stsw",
                    convert_row(true), c.fio.empty() ? "" : "fio-copy"});
    // The same convert with its input in the page cache: the reads leave the device to
    // the writes, so the row shows what the overlap itself costs; its "x fio" is against
    // the StreamWriter of the same run (the target: >= 0.8x).
    rows.push_back({Workload::Write, "stsw-convert-warm",
                    "stsw convert safetensors -> safetensors (input in page cache), crc32", "stsw",
                    convert_row(false), "stsw-write"});
  }
  if (cfg.write_nocrc) {
    rows.push_back({Workload::Write, "stsw-write-nocrc", "stsw StreamWriter, no crc", "stsw",
                    stsw_row(false)});
  }
  if (cfg.engine_rows) {
    rows.push_back({Workload::Write, "engine-write", "stsw Engine::write (raw)", "engine", [&c, t] {
                      return write_to(c, t, [&] {
                        return measure_in_process([&] {
                          return engine_write(t, c.file->official_file_size(), c.source->pool(),
                                              c.stsw);
                        });
                      });
                    }});
  }
  add_fio_best_row(c, rows, Workload::Write, "fio-best-write", c.fio_best_write,
                   [&c, t](const std::function<Sample()>& run) { return write_to(c, t, run); });
  if (convert) add_fio_copy_row(c, rows, t);
  add_fio_rows(
      c, rows, Workload::Write, "fio-write", "fio write, end_fsync",
      [&c, t](bool huge) {
        return write_to(c, t, [&] {
          return run_fio(c.fio, fio_job(c, t, true, c.file->official_file_size(), huge));
        });
      },
      !c.fio_best_write);
  if (cfg.baselines.naive) {
    rows.push_back(
        {Workload::Write, "naive-write", "naive 1 MiB write() + fsync", "naive", [&c, t] {
           return write_to(c, t, [&] {
             return measure_in_process([&] { return naive_write(t, *c.file, *c.source); });
           });
         }});
  }
}

void add_read_rows(const RunContext& c, std::vector<RowSpec>& rows, bool cold) {
  const auto& cfg = *c.config;
  const Workload g = cold ? Workload::ReadCold : Workload::ReadWarm;
  const std::string p = c.read_path;
  auto wrap = [&c, p, cold](std::function<Sample()> run) -> std::function<Sample()> {
    return [&c, p, cold, run] { return cold ? cold_read(c, p, run) : warm_read(p, run); };
  };
  const std::string sfx = cold ? "" : "-warm";
  auto span = [&c] { return c.dst->span(); };
  const DstLayout layout = cfg.dst_layout;
  const std::string dst_note = " (" + std::string(to_string(layout)) + " dst)";
  auto read_into = [&c, p, span](bool crc, DstLayout l) {
    return [&c, p, span, crc, l] {
      return measure_in_process([&] { return stsw_read_into(p, span(), crc, c.stsw, l); });
    };
  };
  rows.push_back({g, "stsw-read" + sfx, "stsw read_into, crc" + dst_note, "stsw",
                  wrap(read_into(true, layout))});
  if (cold) {
    rows.push_back({g, "stsw-read-range8", "stsw read_batch of read_range, 1/8 of each tensor",
                    "stsw", wrap([&c, p, span] {
                      return measure_in_process(
                          [&] { return stsw_read_ranges(p, span(), c.stsw); });
                    })});
  }
  if (cold && cfg.write_nocrc) {
    rows.push_back({g, "stsw-read-nocrc", "stsw read_into, no crc" + dst_note, "stsw",
                    wrap(read_into(false, layout))});
  }
  if (cold && cfg.loader_rows) {
    // A model loader: tensors in file order, 1-2 read_into calls outstanding, into an arena
    // (packed: not congruent to the file offset mod 4096 unless the header happens to be).
    auto loader = [&c, p, span](unsigned n, DstLayout l) {
      return [&c, p, span, n, l] {
        return measure_in_process([&] { return stsw_read_into(p, span(), true, c.stsw, l, n); });
      };
    };
    rows.push_back({g, "stsw-load-1", "stsw loader: file order, 1 in flight, crc (packed arena)",
                    "stsw", wrap(loader(1, DstLayout::Packed))});
    rows.push_back({g, "stsw-load-2", "stsw loader: file order, 2 in flight, crc (packed arena)",
                    "stsw", wrap(loader(2, DstLayout::Packed))});
    if (cfg.loader_no_read_ahead) {
      auto plain = [&c, p, span](unsigned n) {
        return [&c, p, span, n] {
          StswSettings s = c.stsw;
          s.read_ahead = false;
          return measure_in_process(
              [&] { return stsw_read_into(p, span(), true, s, DstLayout::Packed, n); });
        };
      };
      rows.push_back({g, "stsw-load-1-nora",
                      "stsw loader: file order, 1 in flight, crc (packed), no read-ahead", "stsw",
                      wrap(plain(1))});
      rows.push_back({g, "stsw-load-2-nora",
                      "stsw loader: file order, 2 in flight, crc (packed), no read-ahead", "stsw",
                      wrap(plain(2))});
    }
    rows.push_back({g, "stsw-load-2-congruent",
                    "stsw loader: file order, 2 in flight, crc (congruent arena)", "stsw",
                    wrap(loader(2, DstLayout::Congruent))});
  }
  if (cold && layout != DstLayout::Congruent) {
    rows.push_back({g, "stsw-read-congruent", "stsw read_into, crc (congruent dst)", "stsw",
                    wrap(read_into(true, DstLayout::Congruent))});
  }
  if (cold && cfg.fresh_memory) {
    rows.push_back({g, "stsw-read-fresh", "stsw read_into fresh memory, crc (congruent dst)",
                    "stsw", wrap([&c, p] {
                      return measure_in_process(
                          [&] { return stsw_read_into_fresh(p, true, c.stsw); });
                    })});
  }
  if (cfg.engine_rows) {
    rows.push_back(
        {g, "engine-read" + sfx, "stsw Engine::read (raw)", "engine", wrap([&c, p, span] {
           return measure_in_process([&] { return engine_read(p, span(), c.stsw); });
         })});
    if (cold) {
      rows.push_back(
          {g, "engine-read-crc", "stsw Engine::read with crc (raw)", "engine", wrap([&c, p, span] {
             return measure_in_process([&] { return engine_read(p, span(), c.stsw, 0, true); });
           })});
    }
  }
  if (cold) {
    add_fio_best_row(c, rows, g, "fio-best-read", c.fio_best_read,
                     [&c, p](const std::function<Sample()>& run) { return cold_read(c, p, run); });
  }
  add_fio_rows(
      c, rows, g, "fio-read" + sfx, cold ? "fio read" : "fio read, buffered, invalidate=0",
      [&c, p, cold](bool huge) {
        auto run = [&] {
          FioJob j = fio_job(c, p, false, file_size_of(p), huge);
          if (!cold) {
            j.direct = false;
            j.invalidate = false;
          }
          return run_fio(c.fio, j);
        };
        return cold ? cold_read(c, p, run) : warm_read(p, run);
      },
      !(cold && c.fio_best_read));
  if (cfg.baselines.mmap) {
    rows.push_back(
        {g, "mmap-read" + sfx, "mmap + memcpy (official loader)", "mmap", wrap([&c, p, span] {
           return measure_in_process([&] { return mmap_memcpy_read(p, *c.file, span()); });
         })});
  }
  if (cfg.baselines.pread) {
    rows.push_back({g, "pread-read" + sfx, "pread loop", "pread", wrap([&c, p, span] {
                      return measure_in_process(
                          [&] { return pread_loop_read(p, *c.file, span()); });
                    })});
  }
}

void add_verify_rows(const RunContext& c, std::vector<RowSpec>& rows) {
  const std::string p = c.read_path;
  rows.push_back({Workload::Verify, "stsw-verify", "stsw verify (CRC scrub)", "stsw", [&c, p] {
                    return cold_read(c, p, [&] {
                      return measure_in_process([&] { return stsw_verify(p, c.stsw); });
                    });
                  }});
  add_fio_best_row(c, rows, Workload::Verify, "fio-best-verify", c.fio_best_read,
                   [&c, p](const std::function<Sample()>& run) { return cold_read(c, p, run); });
  add_fio_rows(
      c, rows, Workload::Verify, "fio-read-verify", "fio read",
      [&c, p](bool huge) {
        return cold_read(
            c, p, [&] { return run_fio(c.fio, fio_job(c, p, false, file_size_of(p), huge)); });
      },
      !c.fio_best_read);
}

void add_roundtrip_rows(const RunContext& c, std::vector<RowSpec>& rows) {
  const std::string t = c.prefix + "roundtrip.safetensors";
  auto span = [&c] { return c.dst->span(); };
  rows.push_back(
      {Workload::Roundtrip, "stsw-roundtrip", "stsw write + cold read_into", "stsw", [&c, t, span] {
         return write_to(c, t, [&] {
           Sample w =
               measure_in_process([&] { return stsw_write(t, *c.file, *c.source, true, c.stsw); });
           Sample r = cold_read(c, t, [&] {
             return measure_in_process(
                 [&] { return stsw_read_into(t, span(), true, c.stsw, c.config->dst_layout); });
           });
           return sum(w, r);
         });
       }});
  add_fio_rows(
      c, rows, Workload::Roundtrip, "fio-roundtrip", "fio write + cold read", [&c, t](bool huge) {
        return write_to(c, t, [&] {
          Sample w = run_fio(c.fio, fio_job(c, t, true, c.file->official_file_size(), huge));
          Sample r = cold_read(
              c, t, [&] { return run_fio(c.fio, fio_job(c, t, false, file_size_of(t), huge)); });
          return sum(w, r);
        });
      });
  if (c.config->baselines.naive && c.config->baselines.mmap) {
    rows.push_back(
        {Workload::Roundtrip, "naive-roundtrip", "naive write + mmap read", "naive", [&c, t, span] {
           return write_to(c, t, [&] {
             Sample w = measure_in_process([&] { return naive_write(t, *c.file, *c.source); });
             Sample r = cold_read(c, t, [&] {
               return measure_in_process([&] { return mmap_memcpy_read(t, *c.file, span()); });
             });
             return sum(w, r);
           });
         }});
  }
}

}  // namespace

void remove_and_sync(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw errno_error(errno, "unlink " + path);
  const auto slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash + 1);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::syncfs(fd);
    ::close(fd);
  }
}

std::vector<RowSpec> make_rows(const RunContext& ctx, Workload group) {
  std::vector<RowSpec> rows;
  switch (group) {
    case Workload::Write: add_write_rows(ctx, rows); break;
    case Workload::ReadCold: add_read_rows(ctx, rows, true); break;
    case Workload::ReadWarm: add_read_rows(ctx, rows, false); break;
    case Workload::Verify: add_verify_rows(ctx, rows); break;
    case Workload::Roundtrip: add_roundtrip_rows(ctx, rows); break;
  }
  return rows;
}

}  // namespace stsw::bench
