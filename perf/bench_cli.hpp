// The harness's command line, shared by `stsw-bench` and `stsw bench`: options of the
// comparison run, and a `sweep` subcommand for the block size x queue depth matrix.
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace stsw::bench {

// Adds the harness's options and its `sweep` subcommand to `app` (a whole program's App or
// a subcommand). Returns the function that runs what was parsed: it prints the table on
// stdout (stderr when --json -), writes --json/--csv, and returns 0 when every
// repetition ran, 1 when one failed. It throws stsw::Error for a bad option value or a
// failed set-up (callers map that to their usage/failure exit code). The returned
// function owns the option storage; call it after app.parse().
[[nodiscard]] std::function<int()> attach_bench_cli(CLI::App& app);

}  // namespace stsw::bench
