// Hostile input through every entry point: each family of the hostile corpus runs through
// StreamReader::open (strict, lenient, partial), verify and read_into, and a representative
// subset through `stsw inspect` and `stsw verify` as real processes. Each test prints a
// "hostile[<family>]: files tried N, rejected N, crashes 0 (...)" line; the whole binary
// prints the total at exit. STSW_HOSTILE_VERBOSE=1 prints each case with its time and
// peak RSS growth.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>

#include "reliability/hostile_corpus.hpp"
#include "reliability/hostile_run.hpp"
#include "stsw/engine.hpp"
#include "stsw/reader.hpp"
#include "support/peak_rss.hpp"

namespace stsw::hostile {
namespace {

Tally& total() {
  static Tally t;
  return t;
}

class TotalReport : public ::testing::Environment {
 public:
  void SetUp() override {
    // The engine's staging pool is created on first use: create it before any peak-RSS
    // measurement, so only what a file makes the reader allocate counts.
    (void)engine();
  }
  void TearDown() override {
    if (total().files > 0) std::printf("%s\n", total().report("").c_str());
  }
};
[[maybe_unused]] const auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new TotalReport);  // NOLINT: gtest takes ownership

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = std::filesystem::temp_directory_path().string() + "/stsw-hostile-XXXXXX";
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    root_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  void run(const std::string& family, const std::vector<Case>& cases) {
    Tally t;
    for (const Case& c : cases) run_case(c, root_, t);
    std::printf("%s\n", t.report(family).c_str());
    if (!cli_available()) std::printf("hostile[%s]: CLI not built, library only\n", family.c_str());
    total() += t;
    EXPECT_EQ(t.files, cases.size());
    EXPECT_EQ(t.cli_crashes, 0U);
  }
  std::string root_;
};

TEST_F(Hostile, TheBaseFileIsValid) {
  Tally t;
  Case c;
  c.family = "base";
  c.name = "small_valid";
  c.files.push_back({.name = "f.safetensors", .head = small_valid_file()});
  c.expect = Expect::Opens;
  c.cli = true;
  run_case(c, root_, t);
  EXPECT_EQ(t.rejected, 0U);
  EXPECT_EQ(t.verify_mismatch, 0U);
}

// The memory bounds of the huge cases need /proc/self/clear_refs to reset the peak RSS;
// where it cannot be written they are not checked, and this test says so by skipping.
TEST(HostileMemory, BoundsAreMeasured) {
  if (!test::reset_peak_rss()) {
    GTEST_SKIP() << "/proc/self/clear_refs cannot be written: the hostile cases' memory bounds "
                    "are not checked on this machine";
  }
  EXPECT_GT(test::peak_rss(), 0U);
}

TEST_F(Hostile, OfficialErrorKinds) { run("official", official_cases()); }
TEST_F(Hostile, EveryTruncation) { run("truncate", truncation_cases()); }
TEST_F(Hostile, EveryHeaderBitFlip) { run("bitflip", bitflip_cases()); }
TEST_F(Hostile, EveryDataByteFlipped) { run("dataflip", dataflip_cases()); }
TEST_F(Hostile, HugeClaimsNestingAndHundredMegabyteHeaders) { run("huge", huge_cases()); }
TEST_F(Hostile, Names) { run("names", name_cases()); }
TEST_F(Hostile, ShardIndexes) { run("index", index_cases()); }

// Every official kind (and stsw's format kinds) is the exact answer of at least one case.
TEST(HostileCorpus, CoversEveryFormatErrorKind) {
  std::set<Errc> seen;
  std::set<std::string> names;
  for (const Case& c : all_cases()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
    if (c.code) seen.insert(*c.code);
    if (c.lenient_code) seen.insert(*c.lenient_code);
  }
  for (Errc e :
       {Errc::HeaderTooSmall, Errc::HeaderTooLarge, Errc::InvalidHeaderLength, Errc::InvalidHeader,
        Errc::InvalidHeaderDeserialization, Errc::InvalidOffset, Errc::ValidationOverflow,
        Errc::MisalignedSlice, Errc::TensorInvalidInfo, Errc::MetadataIncompleteBuffer,
        Errc::DuplicateName, Errc::InvalidName, Errc::IncompleteFile, Errc::InvalidIndex}) {
    EXPECT_TRUE(seen.contains(e)) << to_string(e);
  }
}

}  // namespace
}  // namespace stsw::hostile
