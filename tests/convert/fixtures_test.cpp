// Converts every committed fixture (written by real torch.save / numpy, see
// tests/fixtures/make_torch_fixtures.py) and compares the result, opened by StreamReader in
// strict mode and verified, with the names, dtypes, shapes and SHA-256 of expected.json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "convert/test_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

ReaderOptions strict_options() {
  ReaderOptions o;
  o.strict = true;
  return o;
}

using ::testing::HasSubstr;

const std::string kFixtures = std::string(STSW_SOURCE_DIR) + "/tests/fixtures/torch";

boost::json::object expectations() {
  return boost::json::parse(cvt::test::read_file(kFixtures + "/expected.json")).as_object();
}

std::string tensor_sha(const StreamReader& r, const std::string& name) {
  std::string bytes(r.meta(name).nbytes(), '\0');
  r.read_into(name, std::as_writable_bytes(std::span(bytes))).get();
  return cvt::test::sha256_hex(bytes);
}

// Checks a converted file (or sharded set) against one expected.json entry.
void check_output(const std::string& out, const boost::json::object& exp) {
  const StreamReader r = StreamReader::open(out, strict_options());
  const auto& tensors = exp.at("tensors").as_array();
  EXPECT_EQ(r.size(), tensors.size());
  const VerifyReport rep = r.verify().get();
  EXPECT_TRUE(rep.passed());
  EXPECT_EQ(rep.ok, tensors.size()) << "every tensor carries a crc32";
  EXPECT_EQ(r.metadata().at("format"), "pt");
  for (const auto& tv : tensors) {
    const auto& t = tv.as_object();
    const std::string name(t.at("name").as_string());
    SCOPED_TRACE(name);
    ASSERT_TRUE(r.contains(name));
    const TensorMeta& m = r.meta(name);
    EXPECT_EQ(to_string(m.dtype), std::string(t.at("dtype").as_string()));
    std::vector<std::uint64_t> shape;
    for (const auto& d : t.at("shape").as_array()) shape.push_back(d.to_number<std::uint64_t>());
    EXPECT_EQ(m.shape, shape);
    EXPECT_EQ(tensor_sha(r, name), std::string(t.at("sha256").as_string()));
  }
}

class Fixtures : public ::testing::TestWithParam<std::string> {};

TEST_P(Fixtures, ConvertsToTheTensorsTorchAndNumpySee) {
  const auto all = expectations();
  const auto& exp = all.at(GetParam()).as_object();
  cvt::test::TempDir dir;
  const std::string out = dir.file("model.safetensors");
  ConvertOptions o;
  o.key = std::string(exp.at("key").as_string());
  o.deduplicate_shared = false;  // every name of expected.json, tied ones included
  std::vector<std::string> warned;
  o.on_warning = [&](std::string_view w) { warned.emplace_back(w); };
  const ConvertResult res = convert(kFixtures + "/" + GetParam(), out, o);
  EXPECT_EQ(res.tensors, exp.at("tensors").as_array().size());
  EXPECT_EQ(res.warnings.size(), exp.at("skipped").to_number<std::size_t>());
  EXPECT_EQ(warned, res.warnings);
  ASSERT_EQ(res.files, std::vector<std::string>{out});
  check_output(out, exp);
}

INSTANTIATE_TEST_SUITE_P(All, Fixtures,
                         ::testing::Values("dtypes.pt", "shared_views.pt", "nested.pt",
                                           "ordered_mixed.pt", "protocol4.pt", "synthetic_fp8.pt",
                                           "synthetic_bigendian.pt", "arrays.npz", "single.npy"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (auto& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

// Tied weights (one tensor under two names) are stored once, as the official save_model
// does; views that differ (rows, cols, element of one storage) keep their own copies.
TEST(FixturesShared, TiedWeightsAreStoredOnceWithTheAliasInMetadata) {
  const auto all = expectations();
  const auto& exp = all.at("shared_views.pt").as_object();
  cvt::test::TempDir dir;
  const std::string out = dir.file("model.safetensors");
  const ConvertResult res = convert(kFixtures + "/shared_views.pt", out);
  using Alias = std::pair<std::string, std::string>;
  EXPECT_EQ(res.aliases, (std::vector<Alias>{{"lm_head.weight", "embed.weight"}}));
  EXPECT_EQ(res.tensors, exp.at("tensors").as_array().size() - 1);
  const StreamReader r = StreamReader::open(out, strict_options());
  EXPECT_FALSE(r.contains("lm_head.weight"));
  EXPECT_TRUE(r.contains("embed.weight"));
  EXPECT_TRUE(r.contains("rows"));
  EXPECT_TRUE(r.contains("base"));
  EXPECT_EQ(r.metadata().at("lm_head.weight"), "embed.weight");
  EXPECT_TRUE(r.verify().get().passed());

  // A user's own metadata entry of that name is kept (save_model: "do not override").
  ConvertOptions o;
  o.metadata["lm_head.weight"] = "mine";
  (void)convert(kFixtures + "/shared_views.pt", out, o);
  EXPECT_EQ(StreamReader::open(out, strict_options()).metadata().at("lm_head.weight"), "mine");
}

TEST(FixturesMeta, EveryFixtureIsCovered) {
  const auto all = expectations();
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kFixtures)) {
    const std::string name = entry.path().filename().string();
    if (name == "expected.json") continue;
    ++files;
    EXPECT_TRUE(all.contains(name)) << name << " has no expectation";
  }
  EXPECT_EQ(files, all.size());
}

TEST(FixturesRefused, LegacyFormat) {
  cvt::test::TempDir dir;
  try {
    (void)convert(kFixtures + "/legacy.pt", dir.file("x.safetensors"));
    ADD_FAILURE() << "legacy checkpoint accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Unsupported);
    EXPECT_THAT(e.what(), HasSubstr("legacy (pre-1.6"));
    EXPECT_THAT(e.what(), HasSubstr("legacy.pt"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.safetensors")));
}

TEST(FixturesRefused, NestedWithoutKeyNamesTheCandidates) {
  cvt::test::TempDir dir;
  try {
    (void)convert(kFixtures + "/nested.pt", dir.file("x.safetensors"));
    ADD_FAILURE() << "nested checkpoint accepted without --key";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("no tensors found"));
    EXPECT_THAT(e.what(), HasSubstr("'model', 'optimizer'"));
    EXPECT_THAT(e.what(), HasSubstr("--key"));
  }
  try {
    ConvertOptions o;
    o.key = "modle";
    (void)convert(kFixtures + "/nested.pt", dir.file("x.safetensors"), o);
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::UnknownTensor);
    EXPECT_THAT(e.what(), HasSubstr("no key 'modle'"));
    EXPECT_THAT(e.what(), HasSubstr("'epoch'"));
  }
  ConvertOptions o;
  o.key = "epoch";
  EXPECT_THROW((void)convert(kFixtures + "/nested.pt", dir.file("x.safetensors"), o), Error);
  o.key = "model";
  EXPECT_THROW((void)convert(kFixtures + "/arrays.npz", dir.file("x.safetensors"), o), Error);
}

TEST(FixturesOptions, ShardedKeepOrderMetadataAndNoCrc) {
  const auto all = expectations();
  cvt::test::TempDir dir;
  ConvertOptions o;
  o.max_shard_size = 200;
  o.order = LayoutOrder::Keep;
  o.crc32 = false;
  o.align = 8;
  o.metadata = {{"source", "dtypes.pt"}, {"format", "pt"}};
  std::size_t calls = 0;
  ConvertProgress last;
  o.on_progress = [&](const ConvertProgress& p) {
    ++calls;
    last = p;
    last.tensor = {};
  };
  const ConvertResult res = convert(kFixtures + "/dtypes.pt", dir.file("model.safetensors"), o);
  ASSERT_GT(res.files.size(), 1u);
  ASSERT_TRUE(res.index.has_value());
  EXPECT_EQ(*res.index, dir.file("model.safetensors.index.json"));
  EXPECT_EQ(res.files[0],
            dir.file("model-00001-of-0000" + std::to_string(res.files.size()) + ".safetensors"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("model.safetensors")));
  EXPECT_EQ(calls, res.tensors);
  EXPECT_EQ(last.bytes_done, last.bytes_total);
  EXPECT_EQ(last.tensors_done, res.tensors);

  const StreamReader r = StreamReader::open(*res.index, strict_options());
  EXPECT_EQ(r.size(), res.tensors);
  EXPECT_EQ(r.metadata().at("source"), "dtypes.pt");
  // Keep: the first shard starts with the state dict's first tensors.
  const StreamReader first = StreamReader::open(res.files[0], strict_options());
  EXPECT_EQ(first.keys().front(), "f64");
  EXPECT_FALSE(first.meta("f64").crc32.has_value());
  EXPECT_EQ(first.shards()[0].data_offset % 8, 0u);
  for (const auto& tv : all.at("dtypes.pt").as_object().at("tensors").as_array()) {
    const std::string name(tv.as_object().at("name").as_string());
    EXPECT_EQ(tensor_sha(r, name), std::string(tv.as_object().at("sha256").as_string())) << name;
  }
  // The sharded set converts back into one file through its index.
  const ConvertResult one = convert(*res.index, dir.file("one.safetensors"));
  EXPECT_EQ(one.format, ConvertFormat::Safetensors);
  EXPECT_EQ(one.tensors, res.tensors);
  check_output(dir.file("one.safetensors"), all.at("dtypes.pt").as_object());
}

TEST(FixturesOptions, SafetensorsRelayoutKeepsMetadataAndAddsCrc) {
  const auto all = expectations();
  cvt::test::TempDir dir;
  ConvertOptions plain;
  plain.crc32 = false;
  plain.order = LayoutOrder::Keep;
  plain.metadata = {{"format", "np"}, {"origin", "numpy"}};
  (void)convert(kFixtures + "/arrays.npz", dir.file("a.safetensors"), plain);
  EXPECT_FALSE(StreamReader::open(dir.file("a.safetensors")).meta("big").crc32.has_value());

  ConvertOptions o;
  o.metadata = {{"extra", "1"}};
  const ConvertResult res = convert(dir.file("a.safetensors"), dir.file("b.safetensors"), o);
  EXPECT_EQ(res.format, ConvertFormat::Safetensors);
  const StreamReader r = StreamReader::open(dir.file("b.safetensors"));
  EXPECT_EQ(r.metadata().at("format"), "np");  // the input's own metadata is kept
  EXPECT_EQ(r.metadata().at("origin"), "numpy");
  EXPECT_EQ(r.metadata().at("extra"), "1");
  EXPECT_TRUE(r.meta("big").crc32.has_value());
  EXPECT_EQ(r.keys().front(), "t_u8");  // canonical: the U64 tensor comes first
  for (const auto& tv : all.at("arrays.npz").as_object().at("tensors").as_array()) {
    const std::string name(tv.as_object().at("name").as_string());
    EXPECT_EQ(tensor_sha(r, name), std::string(tv.as_object().at("sha256").as_string())) << name;
  }
  // In place: the output replaces the input atomically.
  (void)convert(dir.file("b.safetensors"), dir.file("b.safetensors"));
  EXPECT_TRUE(StreamReader::open(dir.file("b.safetensors")).verify().get().passed());
}

}  // namespace
}  // namespace stsw
