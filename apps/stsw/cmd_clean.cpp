// `stsw clean DIR...`: lists and removes the hidden temporary files (".<name>.stsw-*") that
// writers killed before their final rename left behind. Files a live writer holds are kept
// (the rule is in include/stsw/temp_files.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "exit_codes.hpp"
#include "report.hpp"
#include "stsw/temp_files.hpp"

namespace stsw::cli {
namespace {

struct CleanOptions {
  std::vector<std::string> dirs;
  bool dry_run = false;
};

int clean_one(const std::string& dir, bool dry_run) {
  std::vector<TempFileEntry> found;
  try {
    found = clean_temp_files(dir, !dry_run);
  } catch (const std::exception& e) {
    print_error("clean", e, dir);
    return kExitInvalid;
  }
  std::uint64_t count = 0, bytes = 0;
  for (const TempFileEntry& f : found) {
    const std::string size = format_bytes(f.size);
    if (f.in_use) {
      std::printf("in use       %s (%s; a live writer holds it, kept)\n", printable(f.path).c_str(),
                  size.c_str());
      continue;
    }
    const char* what = dry_run ? "would remove" : f.removed ? "removed     " : "not removed ";
    std::printf("%s %s (%s)\n", what, printable(f.path).c_str(), size.c_str());
    if (dry_run || f.removed) {
      ++count;
      bytes += f.size;
    }
  }
  std::printf("%s: %s %llu leftover temporary files (%s)\n", printable(dir).c_str(),
              dry_run ? "would remove" : "removed", static_cast<unsigned long long>(count),
              format_bytes(bytes).c_str());
  return kExitOk;
}

}  // namespace

Command register_clean(CLI::App& parent) {
  auto opts = std::make_shared<CleanOptions>();
  CLI::App* app = parent.add_subcommand(
      "clean",
      "Remove the hidden temporary files (.<name>.stsw-*) that interrupted writers left in "
      "DIR; files of writers still running are kept");
  app->add_option("dir", opts->dirs, "directories to clean (not recursive)")->required();
  app->add_flag("--dry-run,-n", opts->dry_run, "list what would be removed, remove nothing");
  return {app, [opts] {
            int rc = kExitOk;
            for (const std::string& d : opts->dirs) rc = worst(rc, clean_one(d, opts->dry_run));
            std::fflush(stdout);
            return rc;
          }};
}

}  // namespace stsw::cli
