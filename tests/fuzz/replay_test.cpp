// Replays the committed fuzz corpus and the shared vectors through the fuzzer's body
// (fmt's trick): runs under gcc in every CI build, with or without sanitizers.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "fuzz_check.hpp"
#include "stsw/error.hpp"
#include "stsw/header.hpp"

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs_under(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  return files;
}

std::size_t replay(const fs::path& dir) {
  std::size_t count = 0;
  for (const fs::path& path : inputs_under(dir)) {
    std::ifstream in(path, std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const std::string problem = stsw::fuzz::check_one_input(
        reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
    EXPECT_EQ(problem, "") << path;
    ++count;
  }
  return count;
}

TEST(FuzzReplay, SeedCorpus) {
  EXPECT_GE(replay(fs::path(STSW_SOURCE_DIR) / "tests/fuzz/corpus"), 40U);
}

// The seeds' names say what they are: ok_* load strictly, lenient_* only leniently
// (allowing partial files), err_* fail strictly.
TEST(FuzzReplay, SeedsAreWhatTheirNamesSay) {
  for (const fs::path& path : inputs_under(fs::path(STSW_SOURCE_DIR) / "tests/fuzz/corpus")) {
    std::ifstream in(path, std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const auto bytes = std::as_bytes(std::span(data.data(), data.size()));
    const std::string name = path.filename().string();
    const auto loads = [&](bool strict) {
      try {
        static_cast<void>(
            stsw::parse_file(bytes, {.strict = strict, .allow_partial = true, .source = name}));
        return true;
      } catch (const stsw::Error&) {
        return false;
      }
    };
    if (name.starts_with("ok_")) {
      EXPECT_TRUE(loads(true)) << name;
    }
    if (name.starts_with("lenient_")) {
      EXPECT_FALSE(loads(true)) << name;
      EXPECT_TRUE(loads(false)) << name;
    }
    if (name.starts_with("err_")) {
      EXPECT_FALSE(loads(true)) << name;
    }
  }
}

TEST(FuzzReplay, SharedVectors) { EXPECT_GE(replay(fs::path(STSW_VECTORS_DIR)), 20U); }

TEST(FuzzReplay, EmptyAndTinyInputs) {
  for (std::size_t size = 0; size <= 16; ++size) {
    const std::vector<std::uint8_t> zeros(size, 0);
    EXPECT_EQ(stsw::fuzz::check_one_input(zeros.data(), zeros.size()), "") << size;
  }
}

}  // namespace
