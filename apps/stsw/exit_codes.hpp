// The process exit codes of `stsw`, the same for every subcommand (shell-script contract).
#pragma once

namespace stsw::cli {

enum ExitCode : int {
  kExitOk = 0,            // every file checked out / every step passed
  kExitVerifyFailed = 1,  // a CRC mismatch, or a --require-crc / --strict failure
  kExitInvalid = 2,       // usage error, or a file that cannot be read or parsed at all
};

// When several files give different results, the highest code wins (inspect, clean).
[[nodiscard]] constexpr int worst(int a, int b) noexcept { return a > b ? a : b; }

// `stsw verify`'s precedence: a verification failure is never hidden. 1 when any file failed
// its checks (even if another could not be read: the summary line counts those), else 2
// when any file could not be read or parsed, else 0. A script testing `rc == 1` for
// corruption never misses it.
[[nodiscard]] constexpr int verify_precedence(int a, int b) noexcept {
  if (a == kExitVerifyFailed || b == kExitVerifyFailed) return kExitVerifyFailed;
  return worst(a, b);
}

// Shown at the end of `stsw --help` and in the README.
inline constexpr const char* kExitCodeHelp =
    "Exit codes:\n"
    "  0  success\n"
    "  1  verification failed (CRC mismatch, or a --require-crc / --strict failure);\n"
    "     verify exits 1 whenever any file failed, even if others were unreadable\n"
    "  2  usage error, or an unreadable or invalid file; stderr names the error kind\n"
    "     (e.g. InvalidOffset), the file and the tensor\n"
    "Environment: STSW_LOG_LEVEL (like --log-level), STSW_IO_BACKEND=uring|threads.";

}  // namespace stsw::cli
