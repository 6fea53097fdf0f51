// The tool as a whole: --version, --help (with the exit codes), usage errors, logging.
#include <gtest/gtest.h>

#include "cli/cli_files.hpp"
#include "cli/cli_runner.hpp"

namespace stsw::test {
namespace {

std::string sample() { return std::string(STSW_VECTORS_DIR) + "/reference/single_f32.safetensors"; }

TEST(CliBasics, VersionPrintsNameAndVersion) {
  const auto r = run_stsw({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("stsw ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find_first_of("0123456789"), std::string::npos);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliBasics, HelpListsSubcommandsAndExitCodes) {
  const auto r = run_stsw({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* word :
       {"inspect", "verify", "selftest", "--log-level", "--version", "Exit codes", "0  success",
        "1  verification failed", "2  usage error", "STSW_LOG_LEVEL"}) {
    EXPECT_NE(r.out.find(word), std::string::npos) << word << " missing from\n" << r.out;
  }
}

TEST(CliBasics, SubcommandHelpShowsItsOptions) {
  EXPECT_NE(run_stsw({"inspect", "--help"}).out.find("--json"), std::string::npos);
  const auto v = run_stsw({"verify", "--help"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("--require-crc"), std::string::npos);
  EXPECT_NE(v.out.find("--strict"), std::string::npos);
  const auto s = run_stsw({"selftest", "--help"});
  EXPECT_NE(s.out.find("--size"), std::string::npos);
  EXPECT_NE(s.out.find("--dir"), std::string::npos);
}

TEST(CliBasics, UnknownCommandIsNamedWithTheList) {
  const auto r = run_stsw({"foo", "x"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("unknown command 'foo'"), std::string::npos) << r.err;
  for (const char* cmd : {"inspect", "verify", "convert", "selftest"}) {
    EXPECT_NE(r.err.find(cmd), std::string::npos) << cmd << " missing from " << r.err;
  }
  // Global options before the word are skipped, their values included.
  const auto after = run_stsw({"--log-level", "info", "-q", "foo"});
  EXPECT_NE(after.err.find("unknown command 'foo'"), std::string::npos) << after.err;
}

TEST(CliBasics, HelpCommandPrintsHelp) {
  const auto r = run_stsw({"help"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("Exit codes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("verify"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const auto sub = run_stsw({"help", "verify"});
  EXPECT_EQ(sub.exit_code, 0);
  EXPECT_NE(sub.out.find("--require-crc"), std::string::npos) << sub.out;
  const auto bad = run_stsw({"help", "foo"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("unknown command 'foo'"), std::string::npos) << bad.err;
}

TEST(CliBasics, QuietFlagIsListed) {
  const auto r = run_stsw({"--help"});
  EXPECT_NE(r.out.find("-q,--quiet"), std::string::npos) << r.out;
}

class CliUsageError : public ::testing::TestWithParam<std::vector<std::string>> {};

TEST_P(CliUsageError, ExitsTwoWithOneLine) {
  const auto r = run_stsw(GetParam());
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("stsw: ", 0), 0u) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliUsageError,
    ::testing::Values(std::vector<std::string>{}, std::vector<std::string>{"frobnicate"},
                      std::vector<std::string>{"inspect"}, std::vector<std::string>{"verify"},
                      std::vector<std::string>{"inspect", "--bogus", "x"},
                      std::vector<std::string>{"--log-level", "loud", "inspect", "x"},
                      std::vector<std::string>{"verify", "--io-mode", "mmap", "x"},
                      std::vector<std::string>{"selftest", "--size", "lots"},
                      std::vector<std::string>{"selftest", "--size", "0"},
                      std::vector<std::string>{"selftest", "--size", "512K"},
                      std::vector<std::string>{"selftest", "--size", "99999999999999T"},
                      std::vector<std::string>{"selftest", "--backend", "magic"},
                      std::vector<std::string>{"selftest", "--dir", "/nonexistent/stsw"}));

TEST(CliBasics, InvalidLogLevelFromEnvironmentIsAUsageError) {
  const auto r = run_stsw({"inspect", sample()}, {.env = {{"STSW_LOG_LEVEL", "loud"}}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
}

TEST(CliBasics, DefaultLogLevelKeepsStderrQuiet) {
  const auto r = run_stsw({"inspect", sample()}, {.unset_env = {"STSW_LOG_LEVEL"}});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliBasics, DebugLogsGoToStderrNotStdout) {
  const auto r = run_stsw({"--log-level", "debug", "inspect", "--json", sample()});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("[debug]"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find("[debug]"), std::string::npos);
  EXPECT_EQ(parse_json_lines(r.out).size(), 1u);
}

TEST(CliBasics, LogLevelFromEnvironment) {
  const auto r = run_stsw({"inspect", sample()}, {.env = {{"STSW_LOG_LEVEL", "debug"}}});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.err.find("[debug]"), std::string::npos) << r.err;
}

TEST(CliBasics, CommandLineLogLevelOverridesEnvironment) {
  const auto r = run_stsw({"--log-level", "error", "inspect", sample()},
                          {.env = {{"STSW_LOG_LEVEL", "debug"}}});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_TRUE(r.err.empty()) << r.err;
}

// The library's logger is not spdlog's default one: --log-level reaches it through
// stsw::set_log_level (verify creates an engine, which reports its backend at info).
TEST(CliBasics, LogLevelReachesTheLibrary) {
  const auto r =
      run_stsw({"--log-level", "info", "verify", sample()}, {.unset_env = {"STSW_LOG_LEVEL"}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[stsw] [info] engine: backend"), std::string::npos) << r.err;
}

TEST(CliBasics, CommandLineLogLevelOverridesTheLibrarysEnvironment) {
  const auto r = run_stsw({"--log-level", "error", "verify", sample()},
                          {.env = {{"STSW_LOG_LEVEL", "trace"}}});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
}

TEST(CliBasics, GlobalOptionMayFollowTheSubcommand) {
  const auto r = run_stsw({"inspect", sample(), "--log-level", "debug"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("[debug]"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace stsw::test
