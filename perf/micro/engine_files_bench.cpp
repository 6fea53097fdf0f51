// Registered files (issue 21), where they can show: many small Engine::read requests of
// a file in the page cache (no disk in the loop, so the per-request cost of looking the
// descriptor up is not buried under the device's noise). Arg 0: plain descriptors
// (register_files off), 1: registered. Counters: the process's CPU seconds per GB (all
// threads: the ring's driver does the submitting) and requests per second.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "stsw/engine.hpp"

namespace {

constexpr std::size_t kFileBytes = std::size_t{64} << 20;
constexpr std::size_t kChunk = std::size_t{16} << 10;

double process_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) * 1e-6;
  };
  return sec(ru.ru_utime) + sec(ru.ru_stime);
}

void BM_EngineReadWarmSmallChunks(benchmark::State& state) {
  const char* dir = std::getenv("STSW_BENCH_DIR");
  const std::string path = std::string(dir != nullptr ? dir : "/tmp") + "/stsw-files-bench." +
                           std::to_string(::getpid());
  stsw::File f = stsw::File::open(path, O_RDWR | O_CREAT | O_TRUNC, 0644, stsw::IoMode::Buffered);
  std::vector<std::byte> buf(kFileBytes, std::byte{7});
  if (::pwrite(f.fd(), buf.data(), buf.size(), 0) != static_cast<ssize_t>(buf.size())) {
    state.SkipWithError("pwrite failed");
    return;
  }
  ::unlink(path.c_str());
  stsw::EngineOptions o;
  o.backend = stsw::BackendKind::Uring;
  o.chunk_size = kChunk;
  o.queue_depth = 32;
  o.register_files = state.range(0) != 0;
  auto engine = stsw::Engine::create(o);
  if (engine->backend() != stsw::BackendKind::Uring) {
    state.SkipWithError("io_uring is not usable here");
    return;
  }
  engine->read(f, 0, buf, false).get();  // warm, and registers the file
  const double cpu0 = process_cpu_seconds();
  // Google Benchmark's loop variable is never read (the analyzer calls it a dead store).
  for (auto _ : state) {  // NOLINT(clang-analyzer-deadcode.DeadStores)
    engine->read(f, 0, buf, false).get();
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double bytes = static_cast<double>(kFileBytes) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
  state.counters["cpu_s_per_GB"] = cpu / (bytes / 1e9);
  state.counters["requests"] = benchmark::Counter(bytes / kChunk, benchmark::Counter::kIsRate);
  state.counters["files_registered"] = engine->stats().files_registered;
}
BENCHMARK(BM_EngineReadWarmSmallChunks)
    ->Arg(0)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
