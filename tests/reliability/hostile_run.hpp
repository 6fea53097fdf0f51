// Runs hostile cases (hostile_corpus.hpp) through StreamReader and the stsw CLI, checks
// each outcome against the case's expectation (GoogleTest failures) and counts what was
// tried and rejected per entry point.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "stsw/engine.hpp"

#include "reliability/hostile_corpus.hpp"

namespace stsw::hostile {

// Tried / rejected per entry point. A crash would end the process (library) or show up
// as a signal (CLI, counted in cli_crashes and failed).
struct Tally {
  std::uint64_t files = 0, rejected = 0;  // cases, and cases refused by a strict open
  std::uint64_t open_strict = 0, open_strict_rejected = 0;
  std::uint64_t open_lenient = 0, open_lenient_rejected = 0;
  std::uint64_t open_partial = 0, open_partial_rejected = 0;
  std::uint64_t verify = 0, verify_mismatch = 0;  // verify() runs, and reports not passed
  std::uint64_t reads = 0;                        // read_into calls
  std::uint64_t cli_inspect = 0, cli_inspect_rejected = 0;
  std::uint64_t cli_verify = 0, cli_verify_rejected = 0;
  std::uint64_t cli_crashes = 0;          // signals or timeouts
  std::uint64_t peak_rss_growth_max = 0;  // over cases with a memory bound, bytes
  std::uint64_t memory_unchecked = 0;     // cases whose memory bound could not be measured

  Tally& operator+=(const Tally& o);
  // "hostile[<what>]: files tried N, rejected N, crashes 0 (open strict a/b, ...)".
  [[nodiscard]] std::string report(const std::string& what) const;
};

struct RunOptions {
  bool cli = true;  // run the cases marked cli through the binary (when it was built)
};

// Writes the case into a fresh directory under `root`, runs it, removes the directory.
void run_case(const Case& c, const std::string& root, Tally& tally, const RunOptions& o = {});

// The engine every reader of the suite uses (io_uring where it works), created on first
// use; create it before measuring peak RSS.
[[nodiscard]] std::shared_ptr<Engine> engine();

// True when this build can run the CLI (the stsw binary was built alongside).
[[nodiscard]] bool cli_available();

}  // namespace stsw::hostile
