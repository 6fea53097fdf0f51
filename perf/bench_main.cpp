// stsw-bench: stsw against fio and the naive alternatives, in one run (see cli.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>

#include "cli.hpp"

int main(int argc, char** argv) {
  CLI::App app{"stsw-bench: stsw's writer, reader and engine against fio and naive baselines",
               "stsw-bench"};
  auto run = stsw::bench::attach_bench_cli(app);
  CLI11_PARSE(app, argc, argv);
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "stsw-bench: %s\n", e.what());
    return 2;
  }
}
