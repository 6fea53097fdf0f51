// Converting a file onto itself (issue 20, item 6): with the same name, through a hard link
// or through a symlink, a non-safetensors input is refused before anything is written and
// stays intact; a safetensors input is re-laid out in place as before.
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "reliability/crash_support.hpp"
#include "reliability/safety_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#ifdef STSW_SAFETY_CLI
#include "cli/cli_runner.hpp"
#endif

namespace stsw::reliability {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

void expect_refused(const std::string& in, const std::string& out) {
  try {
    (void)convert(in, out, ConvertOptions{});
    ADD_FAILURE() << "converted " << in << " onto " << out;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument) << e.what();
    EXPECT_THAT(e.message(), HasSubstr(out));
    EXPECT_THAT(e.message(), HasSubstr("onto itself"));
  }
}

TEST(SafetyConvert, ANumpyFileOntoItselfIsRefused) {
  ScratchDir dir("safety");
  const std::string npy = dir.file("same.npy");
  const std::string text = npy_f32(256);
  put_text(npy, text);
  expect_refused(npy, npy);
  // The same file under another name (hard link), and through symlinks either way.
  ASSERT_EQ(::link(npy.c_str(), dir.file("hard.npy").c_str()), 0);
  ASSERT_EQ(::symlink("same.npy", dir.file("soft.npy").c_str()), 0);
  expect_refused(npy, dir.file("hard.npy"));
  expect_refused(dir.file("soft.npy"), npy);
  expect_refused(npy, dir.file("soft.npy"));
  EXPECT_EQ(read_text(npy), text);
  EXPECT_EQ(read_text(dir.file("hard.npy")), text);
  EXPECT_THAT(hidden_files(dir.path()), IsEmpty());
  // Another output still works.
  (void)convert(npy, dir.file("out.safetensors"), ConvertOptions{});
  EXPECT_EQ(verify_file(dir.file("out.safetensors")), "");
}

TEST(SafetyConvert, ASafetensorsFileIsReLaidOutInPlace) {
  ScratchDir dir("safety");
  const std::string st = dir.file("model.safetensors");
  write_small(st, 9);
  ConvertOptions o;
  o.align = 128;
  (void)convert(st, st, o);
  EXPECT_EQ(verify_file(st), "");
  const StreamReader r = StreamReader::open(st);
  EXPECT_EQ(r.keys(), std::vector<std::string>{"t"});
}

#ifdef STSW_SAFETY_CLI
TEST(SafetyConvert, TheBinaryRefusesAndKeepsTheInput) {
  ScratchDir dir("safety");
  const std::string npy = dir.file("same.npy");
  const std::string text = npy_f32(256);
  put_text(npy, text);
  const test::RunResult r = test::run_stsw({"convert", npy, npy});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("onto itself"));
  EXPECT_EQ(read_text(npy), text) << "the input was destroyed";
  ASSERT_EQ(::link(npy.c_str(), dir.file("hard.npy").c_str()), 0);
  const test::RunResult h = test::run_stsw({"convert", npy, dir.file("hard.npy")});
  EXPECT_EQ(h.exit_code, 2) << h.out << h.err;
  EXPECT_EQ(read_text(dir.file("hard.npy")), text);
}
#endif

}  // namespace
}  // namespace stsw::reliability
