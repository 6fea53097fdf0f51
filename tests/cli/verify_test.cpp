// `stsw verify`: CRC checks, --require-crc, --strict, --json, sharded sets, several files,
// and the progress bar (only on a terminal).
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "cli/cli_files.hpp"
#include "cli/cli_runner.hpp"

namespace stsw::test {
namespace {

namespace json = boost::json;

const std::string kVectors = STSW_VECTORS_DIR;

struct Fixture {
  TempDir dir;
  std::string path = dir.file("model.safetensors");
  std::uint64_t data_offset = 0;
  // a: [0, 4096), b: [4096, 4096 + 100000), c: the rest.
  explicit Fixture(bool with_crc = true) {
    data_offset = write_safetensors(
        path,
        {make_tensor("a", DType::F32, {1024}, 1), make_tensor("b", DType::U8, {100000}, 2),
         make_tensor("c", DType::I64, {3, 7}, 3)},
        Metadata{{"format", "pt"}}, with_crc, 64);
  }
};

TEST(CliVerify, IntactFilePasses) {
  Fixture f;
  const auto r = run_stsw({"verify", f.path});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  EXPECT_NE(r.out.find(f.path + ": OK: 3 tensors, 3 checksums match"), std::string::npos) << r.out;
  EXPECT_EQ(line_count(r.out), 1u) << r.out;
}

TEST(CliVerify, FlippedByteNamesExactlyThatTensor) {
  Fixture f;
  flip_byte(f.path, f.data_offset + 4096 + 5000);  // inside b
  const auto r = run_stsw({"verify", f.path});
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_NE(r.out.find("tensor 'b': CrcMismatch (expected 0x"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tensor 'a'"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("tensor 'c'"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FAILED"), std::string::npos);
}

TEST(CliVerify, JsonReportsEveryTensor) {
  Fixture f;
  flip_byte(f.path, f.data_offset + 10);  // inside a
  const auto r = run_stsw({"verify", "--json", f.path});
  EXPECT_EQ(r.exit_code, 1);
  const auto docs = parse_json_lines(r.out);
  ASSERT_EQ(docs.size(), 1u) << r.out;
  const auto& d = docs[0].as_object();
  EXPECT_EQ(d.at("path").as_string(), f.path);
  EXPECT_FALSE(d.at("passed").as_bool());
  EXPECT_EQ(d.at("mismatched").to_number<int>(), 1);
  EXPECT_EQ(d.at("ok").to_number<int>(), 2);
  EXPECT_EQ(d.at("unchecked").to_number<int>(), 0);
  EXPECT_GE(d.at("bytes").to_number<std::uint64_t>(), 4096u + 100000u + 168u);
  const auto& t = d.at("tensors").as_array();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].at("name").as_string(), "a");
  EXPECT_EQ(t[0].at("status").as_string(), "mismatch");
  EXPECT_NE(t[0].at("expected"), t[0].at("actual"));
  EXPECT_EQ(t[1].at("status").as_string(), "ok");
  EXPECT_EQ(t[1].at("expected"), t[1].at("actual"));
  EXPECT_EQ(t[2].at("status").as_string(), "ok");
  ASSERT_EQ(d.at("problems").as_array().size(), 1u);
}

TEST(CliVerify, FileWithoutChecksumsPassesUnlessRequired) {
  Fixture f(/*with_crc=*/false);
  const auto plain = run_stsw({"verify", "--json", f.path});
  EXPECT_EQ(plain.exit_code, 0) << plain.out << plain.err;
  const auto docs = parse_json_lines(plain.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].at("unchecked").to_number<int>(), 3);
  EXPECT_EQ(docs[0].at("tensors").as_array()[0].at("status").as_string(), "no checksum");

  const auto text = run_stsw({"verify", f.path});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("no tensor carries a crc32"), std::string::npos) << text.out;

  const auto req = run_stsw({"verify", "--require-crc", f.path});
  EXPECT_EQ(req.exit_code, 1) << req.out << req.err;
  EXPECT_NE(req.out.find("3 of 3 tensors have no crc32 (--require-crc)"), std::string::npos)
      << req.out;
}

TEST(CliVerify, RequireCrcPassesWhenEveryTensorHasOne) {
  Fixture f;
  EXPECT_EQ(run_stsw({"verify", "--require-crc", f.path}).exit_code, 0);
}

TEST(CliVerify, PythonStswFileVerifiesButFailsStrict) {
  const std::string path = kVectors + "/stsw-python/out_crc1.safetensors";
  const auto lenient = run_stsw({"verify", "--require-crc", path});
  EXPECT_EQ(lenient.exit_code, 0) << lenient.out << lenient.err;
  const auto strict = run_stsw({"verify", "--strict", path});
  EXPECT_EQ(strict.exit_code, 1) << strict.out << strict.err;
  EXPECT_NE(strict.out.find("the official loader would refuse it (--strict)"), std::string::npos)
      << strict.out;
  const auto no_crc =
      run_stsw({"verify", "--require-crc", kVectors + "/stsw-python/out_crc0.safetensors"});
  EXPECT_EQ(no_crc.exit_code, 1);
}

TEST(CliVerify, StrictPassesForStrictFiles) {
  Fixture f;
  EXPECT_EQ(run_stsw({"verify", "--strict", "--require-crc", f.path}).exit_code, 0);
  for (const char* v : {"reference/order_mixed.safetensors", "samples/overall.safetensors",
                        "reference/empty.safetensors"}) {
    const auto r = run_stsw({"verify", "--strict", kVectors + "/" + v});
    EXPECT_EQ(r.exit_code, 0) << v << ": " << r.out << r.err;
  }
}

TEST(CliVerify, IoModes) {
  Fixture f;
  for (const char* mode : {"auto", "direct", "buffered"}) {
    const auto r = run_stsw({"verify", "--io-mode", mode, f.path});
    EXPECT_EQ(r.exit_code, 0) << mode << ": " << r.out << r.err;
  }
}

TEST(CliVerify, ShardedSetChecksAllShards) {
  TempDir dir;
  const std::string index = write_sharded(
      dir.path(), {{make_tensor("a", DType::F32, {64}), make_tensor("b", DType::U8, {300})},
                   {make_tensor("c", DType::I64, {20})}});
  const auto ok = run_stsw({"verify", "--json", "--require-crc", "--strict", index});
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  const auto docs = parse_json_lines(ok.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_TRUE(docs[0].at("sharded").as_bool());
  EXPECT_EQ(docs[0].at("ok").to_number<int>(), 3);

  // The last byte of the second shard belongs to tensor c.
  const std::string shard2 = dir.file("model-00002-of-00002.safetensors");
  flip_byte(shard2, read_file(shard2).size() - 1);
  const auto bad = run_stsw({"verify", index});
  EXPECT_EQ(bad.exit_code, 1) << bad.out << bad.err;
  EXPECT_NE(bad.out.find("model-00002-of-00002.safetensors: tensor 'c': CrcMismatch"),
            std::string::npos)
      << bad.out;
}

// A corrupt file is never hidden by an unreadable one: 1 wins over 2 (exit_codes.hpp).
TEST(CliVerify, SeveralFilesCorruptionWinsOverUnreadable) {
  Fixture good;
  Fixture corrupt;
  flip_byte(corrupt.path, corrupt.data_offset);
  const auto one = run_stsw({"verify", good.path, corrupt.path});
  EXPECT_EQ(one.exit_code, 1);
  EXPECT_NE(one.out.find("2 files: 1 passed, 1 failed, 0 unreadable"), std::string::npos)
      << one.out;

  const std::string missing = good.dir.file("missing.safetensors");
  const auto two = run_stsw({"verify", good.path, corrupt.path, missing});
  EXPECT_EQ(two.exit_code, 1);
  EXPECT_NE(two.out.find("3 files: 1 passed, 1 failed, 1 unreadable"), std::string::npos)
      << two.out;
  EXPECT_EQ(line_count(two.err), 1u) << two.err;

  const auto reversed = run_stsw({"verify", missing, corrupt.path});
  EXPECT_EQ(reversed.exit_code, 1) << reversed.out << reversed.err;
  const auto only_unreadable = run_stsw({"verify", good.path, missing});
  EXPECT_EQ(only_unreadable.exit_code, 2);

  const auto js = run_stsw({"verify", "--json", good.path, missing});
  const auto docs = parse_json_lines(js.out);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_TRUE(docs[0].at("passed").as_bool());
  EXPECT_FALSE(docs[1].at("passed").as_bool());
  EXPECT_EQ(docs[1].at("error").at("kind").as_string(), "Io");
}

TEST(CliVerify, NoProgressBarWhenStdoutIsAPipe) {
  Fixture f;
  const auto r = run_stsw({"verify", f.path});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
  EXPECT_EQ(r.out.find("\x1b["), std::string::npos);
  EXPECT_EQ(r.err.find("\x1b["), std::string::npos);
}

// The bar goes to stderr (stdout carries results only), and only after the delay.
TEST(CliVerify, ProgressBarOnAStderrTerminal) {
  Fixture f;
  const auto r =
      run_stsw({"verify", f.path}, {.env = {{"STSW_PROGRESS_DELAY_MS", "0"}}, .stderr_pty = true});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("\x1b[K"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("100%"), std::string::npos) << r.err;
  EXPECT_EQ(r.out.find('\r'), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("OK: 3 tensors"), std::string::npos) << r.out;
}

TEST(CliVerify, NoProgressBarForShortOperations) {
  Fixture f;
  const auto r =
      run_stsw({"verify", f.path}, {.unset_env = {"STSW_PROGRESS_DELAY_MS"}, .stderr_pty = true});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << "a 0.5 s delay; got: " << r.err;
}

TEST(CliVerify, NoProgressBarWhenStdoutIsTheTerminalButStderrIsNot) {
  Fixture f;
  const auto r =
      run_stsw({"verify", f.path}, {.env = {{"STSW_PROGRESS_DELAY_MS", "0"}}, .pty = true});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.find("\x1b[K"), std::string::npos) << r.out;
  EXPECT_EQ(r.err.find("\x1b[K"), std::string::npos) << r.err;
}

TEST(CliVerify, NoProgressBarOnATerminalWhenAskedOrJsonOrQuiet) {
  Fixture f;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"verify", "--no-progress", f.path},
        std::vector<std::string>{"verify", "--json", f.path},
        std::vector<std::string>{"-q", "verify", f.path},
        std::vector<std::string>{"verify", "--quiet", f.path}}) {
    const auto r = run_stsw(args, {.env = {{"STSW_PROGRESS_DELAY_MS", "0"}}, .stderr_pty = true});
    EXPECT_EQ(r.exit_code, 0) << args[1];
    EXPECT_EQ(r.err.find("\x1b[K"), std::string::npos) << args[1] << ": " << r.err;
    EXPECT_EQ(r.out.find("\x1b[K"), std::string::npos) << args[1] << ": " << r.out;
  }
}

}  // namespace
}  // namespace stsw::test
