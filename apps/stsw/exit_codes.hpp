// The process exit codes of `stsw`, the same for every subcommand (shell-script contract).
#pragma once

namespace stsw::cli {

enum ExitCode : int {
  kExitOk = 0,            // every file checked out / every step passed
  kExitVerifyFailed = 1,  // a CRC mismatch, or a --require-crc / --strict failure
  kExitInvalid = 2,       // usage error, or a file that cannot be read or parsed at all
};

// When several files give different results, the highest code wins: a run that could not
// read one file is not reported as a mere verification failure.
[[nodiscard]] constexpr int worst(int a, int b) noexcept { return a > b ? a : b; }

// Shown at the end of `stsw --help` and in the README.
inline constexpr const char* kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  verification failed (CRC mismatch, or a --require-crc / --strict failure)\n"
    "  2  usage error, or an unreadable or invalid file; stderr names the error kind\n"
    "     (e.g. InvalidOffset), the file and the tensor\n"
    "Environment: STSW_LOG_LEVEL (like --log-level), STSW_IO_BACKEND=uring|threads.";

}  // namespace stsw::cli
