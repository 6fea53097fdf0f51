// stsw: the command-line tool. Parses the command line, sets up logging, runs one
// subcommand (see commands.hpp for the registration point) and maps failures to the exit
// codes of exit_codes.hpp.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "logging.hpp"
#include "report.hpp"
#include "stsw/version.hpp"

int main(int argc, char** argv) {
  using namespace stsw::cli;
  CLI::App app{"stsw: fast, checksummed safetensors files (inspect, verify, self-test)", "stsw"};
  app.set_version_flag("--version", std::string("stsw ") + STSW_VERSION_STRING,
                       "print the version and exit");
  std::string log_level(kDefaultLogLevel);
  app.add_option("--log-level", log_level, "log verbosity on stderr (default warn)")
      ->envname("STSW_LOG_LEVEL")
      ->check(CLI::IsMember(std::vector<std::string>(kLogLevels.begin(), kLogLevels.end())));
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.footer(kExitCodeHelp);

  std::vector<Command> commands;
  for (Registrar reg : kCommands) commands.push_back(reg(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    print_error("", std::string(e.what()) + " (see stsw --help)");
    return kExitInvalid;
  }

  try {
    setup_logging(log_level);
    for (const Command& c : commands) {
      if (!c.app->parsed()) continue;
      spdlog::debug("stsw {} {} (log level {})", STSW_VERSION_STRING, c.app->get_name(), log_level);
      return c.run();
    }
  } catch (const std::exception& e) {
    print_error("", e);
    return kExitInvalid;
  }
  return kExitInvalid;
}
