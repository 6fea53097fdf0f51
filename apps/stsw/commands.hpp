// The registration point of the `stsw` subcommands.
//
// A subcommand is one file, apps/stsw/cmd_<name>.cpp, defining a `register_<name>`
// function: it adds a CLI11 subcommand (with its options bound to state it owns) and
// returns a Command whose `run` executes it once the command line has been parsed. To add
// a subcommand, declare its function below and add one line to kCommands.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace stsw::cli {

struct Command {
  CLI::App* app = nullptr;   // the subcommand, owned by the parent CLI::App
  std::function<int()> run;  // returns an ExitCode; may throw (main maps that to 2)
};

using Registrar = Command (*)(CLI::App& parent);

Command register_inspect(CLI::App& parent);   // cmd_inspect.cpp
Command register_verify(CLI::App& parent);    // cmd_verify.cpp
Command register_selftest(CLI::App& parent);  // cmd_selftest.cpp
Command register_convert(CLI::App& parent);   // cmd_convert.cpp
Command register_bench(CLI::App& parent);     // cmd_bench.cpp
Command register_clean(CLI::App& parent);     // cmd_clean.cpp

// Subcommands in the order `stsw --help` lists them. New subcommands (convert, bench):
// one line each here.
inline constexpr Registrar kCommands[] = {
    &register_inspect, &register_verify, &register_selftest,
    &register_convert, &register_bench,  &register_clean,
};

}  // namespace stsw::cli
