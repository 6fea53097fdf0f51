// Peak resident memory of the test process, for tests that bound what an input makes
// stsw allocate. Linux only.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace stsw::test {

// The process's peak resident set size (VmHWM), in bytes; 0 when it cannot be read.
inline std::uint64_t peak_rss() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// Resets the peak to the current RSS (Linux >= 4.0); false where that is not possible,
// in which case peak_rss() keeps the process's high-water mark.
inline bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return static_cast<bool>(f);
}

}  // namespace stsw::test
