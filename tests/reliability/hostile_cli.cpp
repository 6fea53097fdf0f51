// The CLI half of the hostile suite: `stsw inspect` and `stsw verify` as real processes.
#include <gtest/gtest.h>

#include "cli/cli_runner.hpp"
#include "reliability/hostile_outcome.hpp"

namespace stsw::hostile::detail {

namespace {

// The kind a failed open shows on stderr, "" when it opened.
std::string kind_of(const Outcome& o) {
  return o.error ? std::string(to_string(o.error->code())) : std::string();
}

}  // namespace

void run_cli(const Case& c, const std::string& path, const std::string& dir, const Outcome& strict,
             const Outcome& lenient, const Outcome& partial, Tally& t) {
  const bool sharded = path.ends_with(".json");
  // verify loads leniently without partial files; inspect allows them. Both report the
  // strict error kind, except IncompleteFile.
  const std::string verify_kind = lenient.error && lenient.error->code() == Errc::IncompleteFile
                                      ? "IncompleteFile"
                                      : kind_of(strict);
  struct Cmd {
    const char* name;
    int want;  // -1: 0 or 2 (not known: a big case has no partial-mode outcome)
    std::string kind;
    std::uint64_t& tried;
    std::uint64_t& rejected;
  };
  Cmd cmds[] = {
      // inspect loads an index with the library's rules, as a partial-mode reader does.
      {"inspect", sharded && c.big ? -1 : (partial.opened ? 0 : 2), kind_of(strict), t.cli_inspect,
       t.cli_inspect_rejected},
      {"verify", lenient.opened ? (lenient.passed ? 0 : 1) : 2, verify_kind, t.cli_verify,
       t.cli_verify_rejected},
  };
  for (Cmd& cmd : cmds) {
    SCOPED_TRACE(std::string("stsw ") + cmd.name);
    ++cmd.tried;
    const test::RunResult r =
        test::run_stsw({cmd.name, path}, {.env = {{"STSW_LOG_LEVEL", "error"}}, .timeout_s = 60});
    if (r.term_signal != 0 || r.timed_out) {
      ++t.cli_crashes;
      ADD_FAILURE() << "signal " << r.term_signal << (r.timed_out ? " (timed out)" : "") << "\n"
                    << r.err;
      continue;
    }
    if (r.exit_code == 2) ++cmd.rejected;
    EXPECT_EQ((r.out + r.err).find('\x1b'), std::string::npos) << "raw escape byte in output";
    if (cmd.want >= 0) {
      EXPECT_EQ(r.exit_code, cmd.want) << r.err;
    } else {
      EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 2) << r.exit_code << r.err;
    }
    if (r.exit_code != 2) continue;
    EXPECT_EQ(test::line_count(r.err), 1U) << r.err;
    const std::string prefix = std::string("stsw ") + cmd.name + ": ";
    EXPECT_EQ(r.err.rfind(prefix, 0), 0U) << r.err;
    if (!sharded || std::string(cmd.name) == "verify") {
      EXPECT_EQ(r.err.rfind(prefix + cmd.kind + ": ", 0), 0U) << "expected " << cmd.kind << "\n"
                                                              << r.err;
    }
    EXPECT_NE(r.err.find(sharded ? dir : path), std::string::npos) << "file not named: " << r.err;
  }
}

}  // namespace stsw::hostile::detail
