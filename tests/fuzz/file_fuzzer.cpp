// libFuzzer entry point for whole files: StreamReader::open (strict, lenient, partial),
// verify, read_into, get_slice and for_each must never crash and must agree with the
// bytes of the input (see file_check.cpp). Built with STSW_FUZZ=ON under clang; run with
// scripts/fuzz.
#include <cstdio>
#include <cstdlib>

#include "file_check.hpp"

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // The engine logs fallbacks (O_DIRECT on a memfd) at info; keep the fuzzer's output clean.
  ::setenv("STSW_LOG_LEVEL", "error", 0);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string problem = stsw::fuzz::check_file_input(data, size);
  if (!problem.empty()) {
    std::fprintf(stderr, "stsw file fuzzer: invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
