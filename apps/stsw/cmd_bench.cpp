// `stsw bench`: the stsw-bench harness (perf/) as a subcommand: stsw's writer, reader and
// engine against fio and the naive baselines in one interleaved run, and `stsw bench
// sweep` for the block size x queue depth matrix of a device. Same options, same code.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "stsw/error.hpp"

#ifdef STSW_HAVE_BENCH
#include "bench_cli.hpp"
#endif

namespace stsw::cli {

Command register_bench(CLI::App& parent) {
  CLI::App* sub = parent.add_subcommand(
      "bench", "benchmark stsw against fio and naive loaders on this machine's disk (see sweep)");
#ifdef STSW_HAVE_BENCH
  return {sub, bench::attach_bench_cli(*sub)};
#else
  // Built without perf/ (STSW_BUILD_PERF=OFF): the subcommand exists but explains itself.
  return {sub, []() -> int {
            throw Error(Errc::Unsupported,
                        "this stsw was built without the benchmark harness "
                        "(configure with -DSTSW_BUILD_PERF=ON)");
          }};
#endif
}

}  // namespace stsw::cli
