// libFuzzer entry point: the header codec must never crash, and its strict, lenient
// and re-encoded readings must agree (see fuzz_check.cpp). Built with STSW_FUZZ=ON
// under clang; run with scripts/fuzz.
#include <cstdio>
#include <cstdlib>

#include "fuzz_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string problem = stsw::fuzz::check_one_input(data, size);
  if (!problem.empty()) {
    std::fprintf(stderr, "stsw header fuzzer: invariant broken: %s\n", problem.c_str());
    std::abort();
  }
  return 0;
}
