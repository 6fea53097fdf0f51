// Internal to the hostile suite: what one StreamReader open of a case gave, and the CLI
// check that compares `stsw inspect` / `stsw verify` with it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "reliability/hostile_corpus.hpp"
#include "reliability/hostile_run.hpp"
#include "stsw/error.hpp"

namespace stsw::hostile::detail {

// One open (and, when it opened, verify) of a case.
struct Outcome {
  std::optional<Error> error;
  bool opened = false;
  bool passed = false;  // verify's verdict, when opened
  std::size_t mismatched = 0;
};

// Runs `stsw inspect` and `stsw verify` on `path` and checks their exit codes, the error
// kind and file named on stderr against the library's outcomes (strict, lenient, partial).
void run_cli(const Case& c, const std::string& path, const std::string& dir, const Outcome& strict,
             const Outcome& lenient, const Outcome& partial, Tally& t);

}  // namespace stsw::hostile::detail
