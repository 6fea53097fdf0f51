// stsw-bench: stsw against fio and the naive alternatives, in one run (see bench_cli.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "bench_cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"stsw-bench: stsw's writer, reader and engine against fio and naive baselines",
               "stsw-bench"};
  auto run = stsw::bench::attach_bench_cli(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    std::fprintf(stderr, "stsw-bench: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stsw-bench: %s\n", e.what());
    return 2;
  }
}
