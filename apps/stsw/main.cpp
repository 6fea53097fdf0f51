// stsw: the command-line tool. Parses the command line, sets up logging, runs one
// subcommand (see commands.hpp for the registration point) and maps failures to the exit
// codes of exit_codes.hpp.
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "logging.hpp"
#include "progress.hpp"
#include "report.hpp"
#include "stsw/version.hpp"

namespace {

// The first word of the command line that is not a global option (or its value): the
// subcommand the user asked for, or nullptr when there is none.
const char* command_word(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view a = argv[i];
    if (a == "--log-level") {
      ++i;
      continue;
    }
    if (a == "--") return i + 1 < argc ? argv[i + 1] : nullptr;
    if (!a.empty() && a[0] == '-') continue;
    return argv[i];
  }
  return nullptr;
}

std::string command_list(const std::vector<stsw::cli::Command>& commands) {
  std::string names;
  for (const auto& c : commands) names += (names.empty() ? "" : ", ") + c.app->get_name();
  return names;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace stsw::cli;
  CLI::App app{"stsw: fast, checksummed safetensors files (inspect, verify, self-test)", "stsw"};
  app.set_version_flag("--version", std::string("stsw ") + STSW_VERSION_STRING,
                       "print the version and exit");
  std::string log_level(kDefaultLogLevel);
  app.add_option("--log-level", log_level, "log verbosity on stderr (default warn)")
      ->envname("STSW_LOG_LEVEL")
      ->check(CLI::IsMember(std::vector<std::string>(kLogLevels.begin(), kLogLevels.end())));
  bool quiet = false;
  app.add_flag("-q,--quiet", quiet,
               "quiet: no progress bars, and log level error unless --log-level or STSW_LOG_LEVEL "
               "is given (results and errors are still printed)");
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  app.footer(kExitCodeHelp);

  std::vector<Command> commands;
  for (Registrar reg : kCommands) commands.push_back(reg(app));

  // `stsw help [COMMAND]` is `stsw [COMMAND] --help`; an unknown word names itself and the
  // commands there are, instead of CLI11's generic "A subcommand is required".
  if (const char* word = command_word(argc, argv); word != nullptr) {
    const std::string_view w = word;
    const auto find = [&](std::string_view name) -> const Command* {
      for (const Command& c : commands) {
        if (c.app->get_name() == name) return &c;
      }
      return nullptr;
    };
    if (w == "help") {
      const char* topic = nullptr;
      for (int i = 1; i + 1 < argc; ++i) {
        if (argv[i] == w) topic = argv[i + 1];
      }
      if (topic == nullptr) {
        std::fputs(app.help().c_str(), stdout);
        return kExitOk;
      }
      if (const Command* c = find(topic); c != nullptr) {
        std::fputs(c->app->help().c_str(), stdout);
        return kExitOk;
      }
      print_error("", std::string("unknown command '") + topic +
                          "' (commands: " + command_list(commands) + "; see stsw --help)");
      return kExitInvalid;
    }
    if (find(w) == nullptr) {
      print_error("", "unknown command '" + std::string(w) +
                          "' (commands: " + command_list(commands) + ", help; see stsw --help)");
      return kExitInvalid;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    print_error("", std::string(e.what()) + " (see stsw --help)");
    return kExitInvalid;
  }

  try {
    const bool level_given =
        app.get_option("--log-level")->count() > 0 || std::getenv("STSW_LOG_LEVEL") != nullptr;
    if (quiet) {
      ProgressBar::set_progress_allowed(false);
      if (!level_given) log_level = "error";
    }
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
