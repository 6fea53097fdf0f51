// `stsw convert` on the layouts of Hugging Face repositories and on the NumPy corner cases,
// with fixtures written by Debian's torch and numpy while the test sets up (skipped, visibly,
// where /usr/bin/python3 lacks them); and the answers of inspect / verify / convert for
// files that are not safetensors at all.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "cli/cli_runner.hpp"
#include "convert/test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using cvt::test::TempDir;
using test::run_stsw;
using ::testing::HasSubstr;
using ::testing::Not;

ReaderOptions strict_options() {
  ReaderOptions o;
  o.strict = true;
  return o;
}

// Runs a Python snippet with Debian's interpreter in `dir`; false when it (or the modules
// it imports) is unavailable.
bool python(const TempDir& dir, const std::string& code) {
  const std::string script = dir.file("make.py");
  cvt::test::write_file(script, code);
  const std::string cmd = "cd '" + dir.path() + "' && /usr/bin/python3 make.py > make.log 2>&1";
  return std::system(cmd.c_str()) == 0;
}

#define REQUIRE_PYTHON(dir, code)                                     \
  if (!python(dir, code)) {                                           \
    GTEST_SKIP() << "/usr/bin/python3 with torch/numpy unavailable: " \
                 << cvt::test::read_file((dir).file("make.log"));     \
  }

// A sharded .bin set as transformers' save_pretrained(safe_serialization=False) writes it.
const char* kBinSet = R"(
import json, os, torch
g = torch.Generator().manual_seed(1)
emb = torch.randn(4, 3, generator=g)
s1 = {"embed.weight": emb, "lm_head.weight": emb, "a.bias": torch.arange(3.0)}
s2 = {"b.weight": torch.ones(2, 2, dtype=torch.float16), "step": torch.tensor(7)}
os.makedirs("hfbin", exist_ok=True)
torch.save(s1, "hfbin/pytorch_model-00001-of-00002.bin")
torch.save(s2, "hfbin/pytorch_model-00002-of-00002.bin")
wm = {k: "pytorch_model-00001-of-00002.bin" for k in s1}
wm.update({k: "pytorch_model-00002-of-00002.bin" for k in s2})
json.dump({"metadata": {"total_size": 0}, "weight_map": wm},
          open("hfbin/pytorch_model.bin.index.json", "w"))
)";

TEST(CliConvertHf, ShardedBinIndexConverts) {
  TempDir dir;
  REQUIRE_PYTHON(dir, kBinSet);
  const std::string out = dir.path() + "/out/";  // a directory that does not exist yet
  const auto r =
      run_stsw({"convert", dir.file("hfbin/pytorch_model.bin.index.json"), out, "--no-progress"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("from torch"));
  EXPECT_THAT(r.out, HasSubstr("lm_head.weight = embed.weight"));
  const StreamReader rd = StreamReader::open(out + "model.safetensors", strict_options());
  EXPECT_EQ(rd.size(), 4u);  // lm_head.weight stored once, as embed.weight
  EXPECT_TRUE(rd.contains("step"));
  EXPECT_EQ(rd.meta("step").shape, std::vector<std::uint64_t>{});
  EXPECT_EQ(rd.metadata().at("lm_head.weight"), "embed.weight");
  EXPECT_TRUE(rd.verify().get().passed());

  const auto copies = run_stsw({"convert", dir.file("hfbin/pytorch_model.bin.index.json"),
                                dir.file("copies.safetensors"), "--keep-shared"});
  ASSERT_EQ(copies.exit_code, 0) << copies.err;
  EXPECT_EQ(StreamReader::open(dir.file("copies.safetensors"), strict_options()).size(), 5u);
}

TEST(CliConvertHf, BinIndexWithAMissingShardNamesIt) {
  TempDir dir;
  REQUIRE_PYTHON(dir, kBinSet);
  std::filesystem::remove(dir.file("hfbin/pytorch_model-00002-of-00002.bin"));
  const auto r = run_stsw(
      {"convert", dir.file("hfbin/pytorch_model.bin.index.json"), dir.file("o.safetensors")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("pytorch_model-00002-of-00002.bin"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("o.safetensors")));
}

// transformers' order: model.safetensors, model.safetensors.index.json, pytorch_model.bin,
// pytorch_model.bin.index.json; the choice is printed.
TEST(CliConvertHf, ModelDirectoryPicksTheFileTransformersLoads) {
  TempDir dir;
  REQUIRE_PYTHON(dir, kBinSet);
  auto r = run_stsw({"convert", dir.file("hfbin"), dir.file("o1.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("read " + dir.file("hfbin/pytorch_model.bin.index.json")));

  // A single model.safetensors next to it wins.
  r = run_stsw({"convert", dir.file("o1.safetensors"), dir.file("hfbin/model.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = run_stsw({"convert", dir.file("hfbin") + "/", dir.file("o2.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("read " + dir.file("hfbin/model.safetensors")));
  EXPECT_THAT(r.out, HasSubstr("from safetensors"));

  std::filesystem::create_directories(dir.file("empty"));
  r = run_stsw({"convert", dir.file("empty"), dir.file("o3.safetensors")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("pytorch_model.bin"));
  EXPECT_THAT(r.err, HasSubstr(dir.file("empty")));
}

TEST(CliConvertHf, NpzZeroDimAndEmpty) {
  TempDir dir;
  REQUIRE_PYTHON(dir, R"(
import numpy as np
np.savez("zero_d.npz", s=np.uint8(7), v=np.arange(3, dtype=np.int16))
np.savez("empty.npz")
)");
  // Missing output directories are created.
  auto r = run_stsw({"convert", dir.file("zero_d.npz"), dir.file("new/dirs/z.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const StreamReader z = StreamReader::open(dir.file("new/dirs/z.safetensors"), strict_options());
  EXPECT_EQ(z.meta("s").shape, std::vector<std::uint64_t>{});
  EXPECT_EQ(z.meta("v").shape, std::vector<std::uint64_t>{3});

  r = run_stsw({"convert", dir.file("empty.npz"), dir.file("e.safetensors")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("converted 0 tensors"));
  const StreamReader e = StreamReader::open(dir.file("e.safetensors"), strict_options());
  EXPECT_EQ(e.size(), 0u);
}

std::string tensor_bytes(const StreamReader& r, const std::string& name) {
  std::string bytes(r.meta(name).nbytes(), '\0');
  r.read_into(name, std::as_writable_bytes(std::span(bytes))).get();
  return bytes;
}

// --dtype rounds as torch's own .to() does (the expected bytes come from torch).
TEST(CliConvertHf, DtypeCastMatchesTorch) {
  TempDir dir;
  REQUIRE_PYTHON(dir, R"(
import torch
x = torch.tensor([1.0, 0.1, 65504.0, 1e6, float("-inf"), 3.0000002, -2.5e-8,
                  1.00390625, 1.01171875, 1e-40], dtype=torch.float32)
d = torch.tensor([0.1, 1e300, 1.0 / 3, -0.0], dtype=torch.float64)
h = torch.tensor([0.5, 0.1, -65504.0], dtype=torch.float16)
n = torch.tensor([float("nan")], dtype=torch.float64)
torch.save({"x": x, "d": d, "h": h, "n": n, "i": torch.arange(3)}, "c.pt")
for name, dt in (("BF16", torch.bfloat16), ("F16", torch.float16), ("F32", torch.float32)):
    for k, v in (("x", x), ("d", d), ("h", h)):
        c = v.to(dt)
        c = c.view(torch.int16) if dt == torch.bfloat16 else c
        open(k + "." + name, "wb").write(c.numpy().tobytes())
)");
  for (const std::string dtype : {"BF16", "F16", "F32"}) {
    SCOPED_TRACE(dtype);
    const std::string out = dir.file("c-" + dtype + ".safetensors");
    const auto r = run_stsw({"convert", dir.file("c.pt"), out, "--dtype", dtype});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const StreamReader rd = StreamReader::open(out, strict_options());
    for (const std::string name : {"x", "d", "h"}) {
      EXPECT_EQ(to_string(rd.meta(name).dtype), dtype) << name;
      EXPECT_EQ(tensor_bytes(rd, name), cvt::test::read_file(dir.file(name + "." + dtype))) << name;
    }
    // NaN stays NaN (torch's payloads differ between its code paths: not compared).
    const std::string nan = tensor_bytes(rd, "n");
    if (dtype == "F32") {
      EXPECT_EQ(nan.substr(2), "\xc0\x7f");
    } else {
      ASSERT_EQ(nan.size(), 2u);
      const unsigned v = static_cast<unsigned char>(nan[0]) |
                         (static_cast<unsigned>(static_cast<unsigned char>(nan[1])) << 8);
      const unsigned exponent = dtype == "F16" ? 0x7c00u : 0x7f80u;
      const unsigned mantissa = dtype == "F16" ? 0x03ffu : 0x007fu;
      EXPECT_EQ(v & exponent, exponent) << v;
      EXPECT_NE(v & mantissa, 0u) << v;
    }
    EXPECT_EQ(to_string(rd.meta("i").dtype), "I64");  // integers are never cast
    EXPECT_TRUE(rd.verify().get().passed());
  }
  const auto bad =
      run_stsw({"convert", dir.file("c.pt"), dir.file("o.safetensors"), "--dtype", "I8"});
  EXPECT_EQ(bad.exit_code, 2);
}

// Files people pass by mistake: the error says what the file is and what to do instead.
struct Foreign {
  const char* name;
  std::string bytes;
  const char* says;
};

TEST(CliForeignFiles, InspectAndVerifySayWhatTheFileIs) {
  TempDir dir;
  const std::vector<Foreign> cases = {
      {"model.safetensors",
       "version https://git-lfs.github.com/spec/v1\noid sha256:"
       "4d7a2148c1b9a4b7e3f0e4d0a0c1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3\nsize 548105171\n",
       "Git LFS pointer"},
      {"page.safetensors", "<!DOCTYPE html>\n<html><head><title>404</title></head></html>\n",
       "HTML page"},
      {"README.md", "# A model card\n\nThis model is great. Really.\n", "text file"},
      {"empty.safetensors", "", "empty file"},
      {"arr.npy",
       std::string("\x93NUMPY\x01\x00v\x00{'descr': '|u1', 'fortran_order': False, "
                   "'shape': (), }",
                   60),
       "NumPy .npy"},
      {"old.pt",
       std::string("\x80\x02\x8a\x0a"
                   "l\xfc\x9c"
                   "F\xf9 j\xa8"
                   "P\x19.",
                   15),
       "pickle"},
  };
  for (const Foreign& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = dir.file(c.name);
    cvt::test::write_file(path, c.bytes);
    for (const char* cmd : {"inspect", "verify"}) {
      const auto r = run_stsw({cmd, path});
      EXPECT_EQ(r.exit_code, 2) << cmd;
      EXPECT_EQ(test::line_count(r.err), 1u) << r.err;
      EXPECT_THAT(r.err, HasSubstr(c.says)) << cmd;
      EXPECT_THAT(r.err, HasSubstr(path)) << cmd;
    }
  }
  // convert reads .npy itself, so only the unusable kinds get a hint there.
  const auto lfs = run_stsw({"convert", dir.file("model.safetensors"), dir.file("o.safetensors")});
  EXPECT_EQ(lfs.exit_code, 2);
  EXPECT_THAT(lfs.err, HasSubstr("git lfs pull"));
}

TEST(CliForeignFiles, PyTorchZipSaysToConvert) {
  TempDir dir;
  REQUIRE_PYTHON(dir, "import torch\ntorch.save({'w': torch.ones(2)}, 'w.pt')\n");
  const auto r = run_stsw({"inspect", dir.file("w.pt")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("PyTorch checkpoint"));
  EXPECT_THAT(r.err, HasSubstr("stsw convert " + dir.file("w.pt")));
}

TEST(CliForeignFiles, ASafetensorsFileGetsNoHint) {
  TempDir dir;
  // A valid 8-byte prefix but an invalid header: a real safetensors problem, no guessing.
  cvt::test::write_file(dir.file("bad.safetensors"), std::string("\x02\0\0\0\0\0\0\0{]", 10));
  const auto r = run_stsw({"inspect", dir.file("bad.safetensors")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, Not(HasSubstr("; " + dir.file("bad.safetensors") + " is ")));
}

}  // namespace
}  // namespace stsw
