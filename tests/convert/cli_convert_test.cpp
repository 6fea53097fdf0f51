// `stsw convert` as a user runs it: the real binary, exit codes, output lines, options.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <functional>
#include <map>

#include "cli/cli_runner.hpp"
#include "convert/test_support.hpp"
#include "stsw/dump.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

ReaderOptions strict_options() {
  ReaderOptions o;
  o.strict = true;
  return o;
}

using cvt::test::TempDir;
using test::run_stsw;
using ::testing::HasSubstr;

const std::string kFixtures = std::string(STSW_SOURCE_DIR) + "/tests/fixtures/torch";

TEST(CliConvert, ConvertsWithOptions) {
  TempDir dir;
  const std::string out = dir.file("m.safetensors");
  const auto r = run_stsw({"convert", kFixtures + "/nested.pt", out, "--key", "model", "--metadata",
                           "author=me", "--metadata", "format=pt", "--align", "8", "--no-crc32"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("converted 2 tensors"));
  EXPECT_THAT(r.out, HasSubstr("from torch"));
  EXPECT_EQ(r.err, "");
  const StreamReader rd = StreamReader::open(out, strict_options());
  EXPECT_EQ(rd.metadata().at("author"), "me");
  EXPECT_FALSE(rd.meta("weight").crc32.has_value());
  EXPECT_EQ(rd.shards()[0].data_offset % 8, 0u);
}

TEST(CliConvert, WarnsAboutSkippedEntries) {
  TempDir dir;
  const auto r = run_stsw({"convert", kFixtures + "/ordered_mixed.pt", dir.file("m.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("stsw convert: warning: skipped 'step': a int, not a tensor"));
  EXPECT_THAT(r.out, HasSubstr("6 entries skipped"));
  EXPECT_TRUE(StreamReader::open(dir.file("m.safetensors")).verify().get().passed());
}

TEST(CliConvert, ShardsWithEcosystemSizes) {
  TempDir dir;
  const auto r = run_stsw({"convert", kFixtures + "/dtypes.pt", dir.file("model.safetensors"),
                           "--max-shard-size", "0.2kB"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--max-shard-size"));
  const auto ok = run_stsw({"convert", kFixtures + "/dtypes.pt", dir.file("model.safetensors"),
                            "--max-shard-size", "200", "--order", "keep"});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_THAT(ok.out, HasSubstr("model.safetensors.index.json"));
  EXPECT_TRUE(std::filesystem::exists(dir.file("model-00001-of-00002.safetensors")));
  EXPECT_TRUE(StreamReader::open(dir.file("model.safetensors.index.json")).verify().get().passed());
}

TEST(CliConvert, RefusalsExitWithTwoAndNameTheCause) {
  TempDir dir;
  auto r = run_stsw({"convert", kFixtures + "/legacy.pt", dir.file("m.safetensors")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("stsw convert: Unsupported:"));
  EXPECT_THAT(r.err, HasSubstr("legacy"));
  r = run_stsw({"convert", kFixtures + "/nested.pt", dir.file("m.safetensors"), "--key", "nope"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("UnknownTensor"));
  r = run_stsw(
      {"convert", kFixtures + "/dtypes.pt", dir.file("m.safetensors"), "--metadata", "novalue"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("KEY=VALUE"));
  r = run_stsw(
      {"convert", kFixtures + "/dtypes.pt", dir.file("m.safetensors"), "--order", "random"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_FALSE(std::filesystem::exists(dir.file("m.safetensors")));
}

TEST(CliConvert, ProgressBarOnlyOnATerminal) {
  TempDir dir;
  const auto piped = run_stsw({"convert", kFixtures + "/dtypes.pt", dir.file("a.safetensors")});
  ASSERT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(test::line_count(piped.out), 1u);
  EXPECT_EQ(piped.out.find('\r'), std::string::npos);
  test::RunOptions on_terminal;
  on_terminal.stderr_pty = true;  // the bar is drawn on stderr
  on_terminal.env = {{"STSW_PROGRESS_DELAY_MS", "0"}};
  const auto tty =
      run_stsw({"convert", kFixtures + "/dtypes.pt", dir.file("b.safetensors")}, on_terminal);
  ASSERT_EQ(tty.exit_code, 0) << tty.err;
  EXPECT_THAT(tty.out, HasSubstr("converted 14 tensors"));
  EXPECT_EQ(tty.out.find('\r'), std::string::npos);
  EXPECT_THAT(tty.err, HasSubstr("\r["));  // the bar was drawn
  EXPECT_THAT(tty.err, HasSubstr("100%"));
}

std::map<std::string, std::string> snapshot(const TempDir& dir) {
  std::map<std::string, std::string> s;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const std::string b = cvt::test::read_file(e.path().string());  // compact when a check fails
    s[e.path().filename().string()] =
        std::to_string(b.size()) + " bytes, hash " + std::to_string(std::hash<std::string>{}(b));
  }
  return s;
}

// Six 40000-byte tensors, dumped to `path` in shards of two (one file when !sharded).
void dump_six(const std::string& path, char seed, bool sharded) {
  std::vector<std::string> data(6, std::string(40000, '\0'));
  std::vector<TensorView> views;
  for (std::size_t i = 0; i < data.size(); ++i) {
    for (std::size_t j = 0; j < data[i].size(); ++j) data[i][j] = static_cast<char>(seed + i * j);
    views.push_back(
        {"t" + std::to_string(i), DType::U8, {40000}, std::as_bytes(std::span(data[i]))});
  }
  DumpOptions o;
  o.order = LayoutOrder::Keep;
  if (sharded) o.max_shard_size = 80000;
  (void)dump(views, path, o);
}

// issue 20 item 3: a failed sharded conversion must not destroy the existing checkpoint, and
// converting a set onto its own stem must not delete its index.
TEST(CliConvert, AFailedShardedConversionLeavesTheExistingSetIntact) {
  TempDir in, out;
  dump_six(in.file("in.safetensors"), 7, false);
  {
    const StreamReader r = StreamReader::open(in.file("in.safetensors"));
    const std::uint64_t at = r.shards()[0].data_offset + r.meta("t4").offset_begin + 3;
    const int fd = ::open(in.file("in.safetensors").c_str(), O_WRONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, "\xff", 1, static_cast<off_t>(at)), 1);
    ::close(fd);
  }
  dump_six(out.file("model.safetensors"), 9, true);
  const auto before = snapshot(out);
  const auto r = run_stsw({"convert", in.file("in.safetensors"), out.file("model.safetensors"),
                           "--max-shard-size", "80000", "--order", "keep"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("CrcMismatch"));
  EXPECT_EQ(snapshot(out), before);

  const auto own = run_stsw({"convert", out.file("model.safetensors.index.json"),
                             out.file("model.safetensors"), "--max-shard-size", "80000"});
  ASSERT_EQ(own.exit_code, 0) << own.err;
  EXPECT_TRUE(std::filesystem::exists(out.file("model-00001-of-00003-g1.safetensors")));
  EXPECT_EQ(snapshot(out).size(), 4U);  // the index and its three new shards
  EXPECT_TRUE(StreamReader::open(out.file("model.safetensors.index.json"), strict_options())
                  .verify()
                  .get()
                  .passed());
}

}  // namespace
}  // namespace stsw
