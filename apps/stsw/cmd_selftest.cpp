// `stsw selftest`: proves the installation end to end on this machine's disk: writes a
// file with random tensors through StreamWriter (CRC on), reads it back in every I/O mode
// through StreamReader, verifies it, and checks that a corrupted copy is caught.
#include <unistd.h>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "report.hpp"
#include "selftest_data.hpp"
#include "selftest_env.hpp"
#include "selftest_steps.hpp"
#include "signal_cleanup.hpp"
#include "stsw/error.hpp"
#include "stsw/version.hpp"

namespace stsw::cli {
namespace {

struct SelftestOptions {
  std::string size = "1G";
  std::optional<std::string> dir;
  std::string backend = "auto";
  std::optional<std::uint64_t> seed;
  bool keep = false;
  bool json = false;
  bool no_progress = false;
};

// Read-back tensors in flight at once.
constexpr std::size_t kReadsInFlight = 4;

std::string dtype_list(const std::vector<TensorSpec>& specs) {
  std::set<std::string> names;
  for (const auto& s : specs) names.insert(std::string(to_string(s.dtype)));
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::string mode_text(const StepResult& r) {
  if (r.effective.empty() || r.effective == r.mode) return r.mode;
  return r.mode + ":" + r.effective;
}

void print_step(const StepResult& r) {
  std::printf("  %-9s %-15s %-4s %10s %8.3f s %13s  %s\n", r.name.c_str(), mode_text(r).c_str(),
              r.ok ? "ok" : "FAIL", format_bytes(r.bytes).c_str(), r.seconds,
              format_rate(r.bytes, r.seconds).c_str(), printable(r.detail).c_str());
  std::fflush(stdout);
}

boost::json::object step_json(const StepResult& r) {
  return {{"name", r.name},
          {"mode", r.mode},
          {"effective_mode", r.effective},
          {"ok", r.ok},
          {"bytes", r.bytes},
          {"seconds", r.seconds},
          {"mb_per_s", r.seconds > 0 ? static_cast<double>(r.bytes) / r.seconds / 1e6 : 0.0},
          {"detail", utf8_safe(r.detail)}};
}

int run_selftest(const SelftestOptions& opts) {
  const std::uint64_t size = *parse_size(opts.size);
  const std::uint64_t seed = opts.seed ? *opts.seed : std::random_device{}();
  EngineOptions eo;
  eo.backend = *parse_backend(opts.backend);
  SelftestContext ctx;
  ctx.engine = Engine::create(eo);
  ctx.progress = !opts.json && !opts.no_progress;

  ScratchDir dir(opts.dir, opts.keep);
  std::optional<CleanupOnSignal> cleanup;
  if (!opts.keep) cleanup.emplace(dir.path());
  const std::string fs = file_system_name(dir.path());
  // The file, a corrupted copy of it, and room for the header.
  const std::uint64_t needed = size > UINT64_MAX / 4 ? UINT64_MAX : 2 * size + (16ull << 20);
  if (const std::uint64_t avail = free_bytes(dir.path()); avail < needed) {
    throw Error(Errc::NoSpace, dir.path() + ": the self-test needs " + format_bytes(needed) +
                                   " free (the file and a corrupted copy), " + format_bytes(avail) +
                                   " available; use a smaller --size");
  }
  const std::vector<TensorSpec> specs = plan_selftest_tensors(size);
  const Layout layout = plan_layout(specs, LayoutOrder::Canonical, 64);
  const PatternSource pattern(seed);
  std::uint64_t largest = 0;
  for (const auto& t : layout.tensors) largest = std::max(largest, t.nbytes());
  spdlog::debug("selftest: {} tensors planned in {}", specs.size(), printable(dir.path()));
  DestinationPool destinations(kReadsInFlight, largest);
  spdlog::debug("selftest: {} read-back buffers of {} ready", kReadsInFlight,
                format_bytes(largest));
  ctx.file = dir.path() + "/selftest.safetensors";
  ctx.pattern = &pattern;
  ctx.destinations = &destinations;

  const std::string backend(to_string(ctx.engine->backend()));
  const bool registered = ctx.engine->stats().buffers_registered;
  if (!opts.json) {
    std::printf("stsw selftest %s\n", STSW_VERSION_STRING);
    std::printf("  file      %s (%s), %s in %zu tensors (%s), seed %llu\n",
                printable(ctx.file).c_str(), fs.c_str(), format_bytes(layout.data_size).c_str(),
                specs.size(), dtype_list(specs).c_str(), static_cast<unsigned long long>(seed));
    std::printf("  backend   %s%s\n", backend.c_str(),
                backend == "io_uring" ? (registered ? " (registered buffers)" : "") : "");
    if (fs == "tmpfs") {
      std::puts("  note      tmpfs has no O_DIRECT: direct reads fall back to buffered here");
    }
    std::puts("  step      mode            ok         size     time          rate  checked");
    std::fflush(stdout);
  }

  std::vector<StepResult> steps;
  const auto record = [&](StepResult r) {
    if (!opts.json) print_step(r);
    steps.push_back(std::move(r));
  };
  record(write_step(ctx, specs));
  if (steps.back().ok) {
    record(read_step(ctx, ReadMode::Direct, false));
    record(read_step(ctx, ReadMode::Buffered, false));
    record(read_step(ctx, ReadMode::Mmap, false));
    record(read_step(ctx, ReadMode::Mmap, true));
    record(read_step(ctx, ReadMode::Auto, false));
    record(verify_step(ctx));
    record(corrupt_step(ctx, dir.path() + "/selftest-corrupted.safetensors"));
  }
  std::size_t passed = 0;
  for (const auto& s : steps) passed += s.ok ? 1 : 0;
  const bool ok = passed == steps.size() && steps.size() > 1;

  if (opts.json) {
    boost::json::array arr;
    for (const auto& s : steps) arr.emplace_back(step_json(s));
    boost::json::object o{{"passed", ok},
                          {"version", STSW_VERSION_STRING},
                          {"backend", backend},
                          {"buffers_registered", registered},
                          {"dir", utf8_safe(dir.path())},
                          {"file_system", fs},
                          {"size", layout.data_size},
                          {"tensor_count", specs.size()},
                          {"seed", seed},
                          {"steps", std::move(arr)}};
    std::puts(boost::json::serialize(o).c_str());
  } else {
    std::printf("selftest %s: %zu of %zu steps passed (backend %s)\n", ok ? "PASSED" : "FAILED",
                passed, steps.size(), backend.c_str());
  }
  return ok ? kExitOk : kExitVerifyFailed;
}

}  // namespace

Command register_selftest(CLI::App& parent) {
  auto opts = std::make_shared<SelftestOptions>();
  CLI::App* app = parent.add_subcommand(
      "selftest",
      "Write a file of random tensors through StreamWriter (CRC on), read it back in every I/O "
      "mode, verify it, and prove that a corrupted copy is caught; prints MB/s per step and "
      "the I/O backend. Exit 0 only if every step passed");
  app->add_option(
         "--size", opts->size,
         "data to write, e.g. 64M, 1G (binary; 1GB is 10^9 bytes; default 1G, at least 1M)")
      ->check([](const std::string& s) -> std::string {
        const auto v = parse_size(s);
        if (!v) return "not a size (use e.g. 64M or 1G): " + s;
        if (*v < kMinSelftestSize) return "--size must be at least 1M";
        return {};
      });
  app->add_option("--dir", opts->dir,
                  "where to create the scratch directory (default: the current directory, "
                  "else $TMPDIR, /var/tmp, /tmp); removed afterwards")
      ->check(CLI::ExistingDirectory);
  app->add_option("--backend", opts->backend, "I/O backend: auto, uring or threads")
      ->check(CLI::IsMember({"auto", "uring", "threads"}));
  app->add_option("--seed", opts->seed, "seed of the random tensor contents");
  app->add_flag("--keep", opts->keep, "keep the scratch directory and its files");
  app->add_flag("--json", opts->json, "one JSON document with every step's result");
  app->add_flag("--no-progress", opts->no_progress, "no progress bars");
  return {app, [opts] { return run_selftest(*opts); }};
}

}  // namespace stsw::cli
