// `stsw inspect`: tables and --json for every shared vector, strict vs lenient files,
// sharded index files, several files at once.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <map>

#include "cli/cli_files.hpp"
#include "cli/cli_runner.hpp"

namespace stsw::test {
namespace {

namespace json = boost::json;

const std::string kVectors = STSW_VECTORS_DIR;

json::value manifest() { return json::parse(read_file(kVectors + "/MANIFEST.json")); }

std::uint64_t header_length(const std::string& path) {
  const std::string head = read_file(path).substr(0, 8);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(head[i]);
  return n;
}

json::object inspect_json(const std::string& path) {
  const auto r = run_stsw({"inspect", "--json", path});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  auto docs = parse_json_lines(r.out);
  EXPECT_EQ(docs.size(), 1u) << r.out;
  return docs.empty() ? json::object{} : docs.front().as_object();
}

// Checks the document against the manifest entry: tensors (as a set), metadata, file order.
void expect_matches_manifest(const json::object& doc, const json::object& entry,
                             const std::string& path) {
  EXPECT_EQ(doc.at("path").as_string(), path);
  const std::uint64_t n = header_length(path);
  EXPECT_EQ(doc.at("header_size").to_number<std::uint64_t>(), n);
  EXPECT_EQ(doc.at("data_offset").to_number<std::uint64_t>(), 8 + n);
  EXPECT_TRUE(doc.at("strict_valid").as_bool());
  EXPECT_EQ(doc.at("metadata"), entry.at("metadata"));
  std::map<std::string, json::object> want;
  for (const auto& t : entry.at("tensors").as_array()) {
    want[std::string(t.at("name").as_string())] = t.as_object();
  }
  const auto& tensors = doc.at("tensors").as_array();
  ASSERT_EQ(tensors.size(), want.size());
  std::uint64_t expected_begin = 0;
  for (const auto& tv : tensors) {
    const auto& t = tv.as_object();
    const std::string name(t.at("name").as_string());
    ASSERT_TRUE(want.contains(name)) << name;
    const auto& w = want[name];
    EXPECT_EQ(t.at("dtype"), w.at("dtype")) << name;
    EXPECT_EQ(t.at("shape"), w.at("shape")) << name;
    const auto& offs = t.at("data_offsets").as_array();
    ASSERT_EQ(offs.size(), 2u);
    const auto begin = offs[0].to_number<std::uint64_t>();
    const auto end = offs[1].to_number<std::uint64_t>();
    EXPECT_EQ(begin, expected_begin) << name << ": tensors must come in file order";
    expected_begin = end;
    EXPECT_EQ(t.at("nbytes").to_number<std::uint64_t>(), end - begin);
    if (w.contains("nbytes")) {
      EXPECT_EQ(t.at("nbytes"), w.at("nbytes")) << name;
    }
    EXPECT_TRUE(t.at("crc32").is_null());
  }
}

TEST(CliInspect, ReferenceVectorsAsJson) {
  const auto m = manifest();
  for (const auto& [file, entry] : m.at("reference").as_object()) {
    SCOPED_TRACE(std::string(file));
    const std::string path = kVectors + "/reference/" + std::string(file);
    expect_matches_manifest(inspect_json(path), entry.as_object(), path);
  }
}

TEST(CliInspect, SampleVectorsAsJson) {
  const auto m = manifest();
  for (const auto& [file, entry] : m.at("samples").as_object()) {
    SCOPED_TRACE(std::string(file));
    const std::string path = kVectors + "/samples/" + std::string(file);
    expect_matches_manifest(inspect_json(path), entry.as_object(), path);
  }
}

TEST(CliInspect, PythonStswFilesAreLenientOnlyAndShowTheirCrcs) {
  const auto m = manifest();
  const auto& entry = m.at("stsw-python").at("out_crc1.safetensors").as_object();
  const auto doc = inspect_json(kVectors + "/stsw-python/out_crc1.safetensors");
  EXPECT_FALSE(doc.at("strict_valid").as_bool());
  EXPECT_FALSE(doc.at("strict_error").as_string().empty());
  EXPECT_EQ(doc.at("stsw_version").as_string(), "1.0");
  const auto& tensors = doc.at("tensors").as_array();
  ASSERT_EQ(tensors.size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto& want = entry.at("tensors").as_array()[i].as_object();
    EXPECT_EQ(tensors[i].at("name"), want.at("name"));
    EXPECT_EQ(tensors[i].at("data_offsets"), want.at("data_offsets"));
    EXPECT_EQ(tensors[i].at("crc32").to_number<std::uint64_t>(),
              want.at("crc32").to_number<std::uint64_t>());
  }
  const auto r = run_stsw({"inspect", kVectors + "/stsw-python/out_crc0.safetensors"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("lenient only"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Python stsw (\"__version__\": \"1.0\")"), std::string::npos) << r.out;
}

TEST(CliInspect, TableShowsTensorsTotalsAndValidity) {
  TempDir dir;
  const std::string path = dir.file("m.safetensors");
  write_safetensors(
      path, {make_tensor("w.big", DType::F32, {2, 3}), make_tensor("bias", DType::BF16, {5})},
      Metadata{{"format", "pt"}}, true, 64);
  const auto r = run_stsw({"inspect", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s :
       {"name",         "dtype",     "shape",        "size", "offsets",    "crc32",
        "w.big",        "F32",       "[2, 3]",       "24 B", "[0, 24)",    "bias",
        "BF16",         "[5]",       "[24, 34)",     "0x",   "tensors: 2", "data: 34 B",
        "(aligned to ", "format=pt", "valid: strict"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " missing from\n" << r.out;
  }
  EXPECT_EQ(r.out.find('\r'), std::string::npos);
}

TEST(CliInspect, TableShowsDashWithoutCrcAndEscapesNames) {
  const auto r = run_stsw({"inspect", kVectors + "/reference/escaped_names.safetensors"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("a\"b\\c/d"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\\n\\r\\t\\x01\\x7f\xc3\xa9"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find('\x01'), std::string::npos);
  EXPECT_NE(r.out.find(" -\n"), std::string::npos) << r.out;
}

TEST(CliInspect, JsonKeepsEscapedNamesExact) {
  const auto m = manifest();
  const auto& entry = m.at("reference").at("escaped_names.safetensors");
  const auto doc = inspect_json(kVectors + "/reference/escaped_names.safetensors");
  EXPECT_EQ(doc.at("tensors").as_array()[0].at("name"),
            entry.at("tensors").as_array()[0].at("name"));
  EXPECT_EQ(doc.at("metadata"), entry.at("metadata"));
}

TEST(CliInspect, JsonShowsCrcsAndAlignment) {
  TempDir dir;
  const std::string path = dir.file("c.safetensors");
  const auto a = make_tensor("a", DType::U8, {10}, 3);
  write_safetensors(path, {a}, std::nullopt, true, 4096);
  const auto doc = inspect_json(path);
  EXPECT_EQ(doc.at("data_offset").to_number<std::uint64_t>() % 4096, 0u);
  EXPECT_EQ(doc.at("data_alignment").to_number<std::uint64_t>(), 4096u);
  EXPECT_TRUE(doc.at("metadata").is_null());
  EXPECT_TRUE(doc.at("stsw_version").is_null());
  EXPECT_FALSE(doc.at("incomplete").as_bool());
  EXPECT_EQ(doc.at("tensor_count").to_number<std::uint64_t>(), 1u);
  EXPECT_EQ(doc.at("total_bytes").to_number<std::uint64_t>(), 10u);
  EXPECT_TRUE(doc.at("tensors").as_array()[0].at("crc32").is_number());
}

TEST(CliInspect, SeveralFilesGiveOneDocumentEachInOrder) {
  const std::string a = kVectors + "/reference/single_f32.safetensors";
  const std::string b = kVectors + "/samples/B.safetensors";
  const auto r = run_stsw({"inspect", "--json", a, b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto docs = parse_json_lines(r.out);
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0].at("path").as_string(), a);
  EXPECT_EQ(docs[1].at("path").as_string(), b);
}

TEST(CliInspect, OneBadFileAmongGoodOnesExitsTwoAndReportsIt) {
  TempDir dir;
  const std::string good = kVectors + "/reference/single_f32.safetensors";
  const std::string bad = dir.file("empty.safetensors");
  write_file(bad, "");
  const auto r = run_stsw({"inspect", "--json", good, bad, good});
  EXPECT_EQ(r.exit_code, 2);
  const auto docs = parse_json_lines(r.out);
  ASSERT_EQ(docs.size(), 3u);
  EXPECT_TRUE(docs[0].as_object().contains("tensors"));
  EXPECT_EQ(docs[1].at("error").at("kind").as_string(), "HeaderTooSmall");
  EXPECT_EQ(docs[1].at("path").as_string(), bad);
  EXPECT_TRUE(docs[2].as_object().contains("tensors"));
  EXPECT_EQ(line_count(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("HeaderTooSmall"), std::string::npos);
  EXPECT_NE(r.err.find(bad), std::string::npos);
}

TEST(CliInspect, ShardedIndexIsOneCheckpoint) {
  TempDir dir;
  const std::string index = write_sharded(
      dir.path(), {{make_tensor("a", DType::F32, {4}), make_tensor("b", DType::U8, {3})},
                   {make_tensor("c", DType::I64, {2})}});
  const auto doc = inspect_json(index);
  EXPECT_TRUE(doc.at("sharded").as_bool());
  EXPECT_TRUE(doc.at("strict_valid").as_bool());
  EXPECT_EQ(doc.at("metadata").at("total_size").to_number<std::uint64_t>(), 16u + 3u + 16u);
  EXPECT_EQ(doc.at("tensor_count").to_number<std::uint64_t>(), 3u);
  EXPECT_EQ(doc.at("shards").as_array().size(), 2u);
  const auto& t = doc.at("tensors").as_array();
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].at("name").as_string(), "a");
  EXPECT_EQ(t[0].at("shard").as_string(), "model-00001-of-00002.safetensors");
  EXPECT_EQ(t[2].at("name").as_string(), "c");
  EXPECT_EQ(t[2].at("shard").as_string(), "model-00002-of-00002.safetensors");
  const auto r = run_stsw({"inspect", index});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("2 shards"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total: 3 tensors"), std::string::npos) << r.out;
}

struct BadIndex {
  const char* name;
  const char* json;
};

class CliInspectBadIndex : public ::testing::TestWithParam<BadIndex> {};

TEST_P(CliInspectBadIndex, IsInvalidIndex) {
  TempDir dir;
  write_safetensors(dir.file("s1.safetensors"), {make_tensor("a", DType::U8, {2})}, std::nullopt,
                    true);
  const std::string index = dir.file("model.safetensors.index.json");
  write_file(index, GetParam().json);
  for (const char* cmd : {"inspect", "verify"}) {
    const auto r = run_stsw({cmd, index});
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.out << r.err;
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("InvalidIndex"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find(index), std::string::npos) << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, CliInspectBadIndex,
    ::testing::Values(BadIndex{"NotJson", "{\"weight_map\": "}, BadIndex{"NotObject", "[1, 2]"},
                      BadIndex{"NoWeightMap", "{\"metadata\": {}}"},
                      BadIndex{"NonStringShard", "{\"weight_map\": {\"a\": 3}}"},
                      BadIndex{"PathComponent", "{\"weight_map\": {\"a\": \"../s1.safetensors\"}}"},
                      BadIndex{"MissingShard", "{\"weight_map\": {\"a\": \"s2.safetensors\"}}"},
                      BadIndex{"TensorNotInShard",
                               "{\"weight_map\": {\"zz\": \"s1.safetensors\"}}"},
                      // Where the CLI's own loader once disagreed with the library's, the
                      // library's stricter rule now holds for inspect too.
                      BadIndex{"EmptyWeightMap", "{\"weight_map\": {}}"},
                      BadIndex{"MetadataNotObject",
                               "{\"metadata\": 5, \"weight_map\": {\"a\": \"s1.safetensors\"}}"}),
    [](const auto& info) { return std::string(info.param.name); });

// A shard holding a tensor the weight map does not list: the library refuses the set (it
// could not say which file a reader of the index should take it from), so inspect and
// verify refuse it too (inspect once only warned).
TEST(CliInspect, ShardWithATensorTheWeightMapDoesNotListIsInvalidIndex) {
  TempDir dir;
  write_safetensors(dir.file("s1.safetensors"),
                    {make_tensor("a", DType::U8, {2}), make_tensor("extra", DType::U8, {3})},
                    std::nullopt, true);
  const std::string index = dir.file("model.safetensors.index.json");
  write_file(index, R"({"weight_map": {"a": "s1.safetensors"}})");
  for (const char* cmd : {"inspect", "verify"}) {
    const auto r = run_stsw({cmd, index});
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.out << r.err;
    EXPECT_EQ(line_count(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("InvalidIndex"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("'extra', which the weight_map does not list"), std::string::npos)
        << r.err;
  }
}

TEST(CliInspect, IndexWithNullMetadataIsInspected) {
  TempDir dir;
  write_safetensors(dir.file("s1.safetensors"), {make_tensor("a", DType::U8, {2})}, std::nullopt,
                    true);
  const std::string index = dir.file("model.safetensors.index.json");
  write_file(index, R"({"metadata": null, "weight_map": {"a": "s1.safetensors"}})");
  const auto doc = inspect_json(index);
  EXPECT_TRUE(doc.at("metadata").as_object().empty());
  EXPECT_EQ(run_stsw({"verify", index}).exit_code, 0);
}

TEST(CliInspect, NonUtf8PathOfAValidFileIsInspected) {
  TempDir dir;
  const std::string path = dir.file("w\xff\xfe.safetensors");
  write_safetensors(path, {make_tensor("a", DType::U8, {2})}, std::nullopt, false);
  const auto r = run_stsw({"inspect", "--json", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto docs = parse_json_lines(r.out);
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_NE(std::string(docs[0].at("path").as_string()).find("\xEF\xBF\xBD"), std::string::npos);
  const auto t = run_stsw({"inspect", path});
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_NE(t.out.find("\\xff\\xfe"), std::string::npos) << t.out;
}

}  // namespace
}  // namespace stsw::test
