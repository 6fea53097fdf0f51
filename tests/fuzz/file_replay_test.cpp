// Replays the whole-file fuzzer's body over its committed corpus, the header fuzzer's
// corpus (whole files too) and the shared vectors: runs under gcc in every CI build.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "file_check.hpp"

namespace {

namespace fs = std::filesystem;

std::size_t replay(const fs::path& dir) {
  std::size_t count = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string data{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_EQ(stsw::fuzz::check_file_input(reinterpret_cast<const std::uint8_t*>(data.data()),
                                           data.size()),
              "")
        << e.path();
    ++count;
  }
  return count;
}

TEST(FileFuzzReplay, FileCorpus) {
  EXPECT_GE(replay(fs::path(STSW_SOURCE_DIR) / "tests/fuzz/corpus_file"), 15U);
}

// Inputs the file fuzzer found (a libFuzzer merge of a campaign's corpus, inputs up to
// 1 KiB that added coverage beyond the seeds): regression coverage under gcc.
TEST(FileFuzzReplay, FoundCorpus) {
  EXPECT_GE(replay(fs::path(STSW_SOURCE_DIR) / "tests/fuzz/corpus_file_found"), 100U);
}

TEST(FileFuzzReplay, HeaderCorpus) {
  EXPECT_GE(replay(fs::path(STSW_SOURCE_DIR) / "tests/fuzz/corpus"), 40U);
}

TEST(FileFuzzReplay, SharedVectors) { EXPECT_GE(replay(fs::path(STSW_VECTORS_DIR)), 20U); }

TEST(FileFuzzReplay, EmptyAndTinyInputs) {
  for (std::size_t size = 0; size <= 16; ++size) {
    const std::vector<std::uint8_t> zeros(size, 0);
    EXPECT_EQ(stsw::fuzz::check_file_input(zeros.data(), zeros.size()), "") << size;
  }
}

// The checker itself must catch a broken file: a valid file whose stored crc32 is wrong
// opens, and every path must then report the mismatch (so "" means the checks ran).
TEST(FileFuzzReplay, CheckerSeesTheCorruptTensor) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4],"crc32":1}})";
  std::string file(8, '\0');
  for (int i = 0; i < 8; ++i) file[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  file += header + "abcd";
  EXPECT_EQ(
      stsw::fuzz::check_file_input(reinterpret_cast<const std::uint8_t*>(file.data()), file.size()),
      "");
}

}  // namespace
