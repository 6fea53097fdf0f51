// Parsing model.safetensors.index.json.
#include "reader/shard_index.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "stsw/error.hpp"

namespace stsw::detail {
namespace {

using ::testing::HasSubstr;

Error parse_error(const std::string& text) {
  try {
    (void)parse_index(text, "dir/model.safetensors.index.json");
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted: " << text;
  return Error(Errc::Io, "none");
}

TEST(ShardIndex, ParsesWeightMapShardsAndMetadata) {
  const auto idx = parse_index(
      R"({"metadata":{"total_size":120,"format":"pt"},"weight_map":{
          "b":"model-00002-of-00002.safetensors","a":"model-00001-of-00002.safetensors",
          "c":"model-00001-of-00002.safetensors"}})",
      "x.json");
  EXPECT_EQ(idx.weight_map.size(), 3U);
  EXPECT_EQ(idx.weight_map.at("b"), "model-00002-of-00002.safetensors");
  EXPECT_THAT(idx.shard_names, ::testing::ElementsAre("model-00001-of-00002.safetensors",
                                                      "model-00002-of-00002.safetensors"));
  EXPECT_EQ(idx.metadata.at("total_size"), "120");
  EXPECT_EQ(idx.metadata.at("format"), "pt");
}

TEST(ShardIndex, MalformedIndexesAreInvalidIndex) {
  const char* cases[] = {
      "",
      "{",
      "[1,2]",
      R"({"metadata":{}})",
      R"({"weight_map":[]})",
      R"({"weight_map":{}})",
      R"({"weight_map":{"a":1}})",
      R"({"weight_map":{"a":null}})",
  };
  for (const char* c : cases) {
    const Error e = parse_error(c);
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << c;
    EXPECT_THAT(e.message(), HasSubstr("dir/model.safetensors.index.json")) << c;
  }
}

TEST(ShardIndex, ShardNamesWithPathComponentsAreRefused) {
  const std::vector<std::string> names = {
      "../x.safetensors",      "/abs.safetensors", "a/b.safetensors", "..", ".", "", "sub/",
      std::string("nul\0x", 5)};
  for (const std::string& bad : names) {
    std::string escaped;
    for (char c : bad) escaped += c == '\0' ? std::string("\\u0000") : std::string(1, c);
    const Error e = parse_error(R"({"weight_map":{"w":")" + escaped + R"("}})");
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << escaped;
    EXPECT_THAT(e.message(), HasSubstr("tensor 'w'")) << escaped;
    EXPECT_THAT(e.message(), HasSubstr("not a plain file name")) << escaped;
  }
}

TEST(ShardIndex, PlainNamesAreAccepted) {
  for (const char* ok : {"model.safetensors", "..model", "a..b", "x y.safetensors"}) {
    EXPECT_NO_THROW(check_shard_name(ok, "w", "i.json")) << ok;
  }
}

// One rule for "metadata" (the CLI refused a non-object, the reader ignored it): it is an
// object, null or absent; anything else is InvalidIndex for inspect, verify and the reader.
TEST(ShardIndex, MetadataThatIsNotAnObjectIsInvalidIndex) {
  for (const char* md : {"5", "\"pt\"", "[1]", "true"}) {
    const Error e = parse_error(std::string(R"({"metadata":)") + md +
                                R"(,"weight_map":{"a":"s.safetensors"}})");
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << md;
    EXPECT_THAT(e.message(), HasSubstr("\"metadata\" is not an object")) << md;
  }
}

TEST(ShardIndex, NullOrAbsentMetadataIsEmpty) {
  for (const char* text : {R"({"metadata":null,"weight_map":{"a":"s.safetensors"}})",
                           R"({"weight_map":{"a":"s.safetensors"}})"}) {
    const auto idx = parse_index(text, "i.json");
    EXPECT_TRUE(idx.metadata.empty()) << text;
    EXPECT_TRUE(idx.metadata_json.empty()) << text;
  }
}

TEST(ShardIndex, MetadataJsonKeepsValueTypes) {
  const auto idx = parse_index(
      R"({"metadata":{"total_size":120,"format":"pt"},"weight_map":{"a":"s.safetensors"}})",
      "i.json");
  EXPECT_EQ(idx.metadata_json, R"({"total_size":120,"format":"pt"})");
}

Header header_of(std::vector<std::string> names) {
  Header h;
  std::uint64_t at = 0;
  for (auto& n : names) {
    TensorMeta t;
    t.name = std::move(n);
    t.dtype = DType::U8;
    t.shape = {1};
    t.offset_begin = at;
    t.offset_end = ++at;
    h.tensors.push_back(std::move(t));
  }
  return h;
}

Error match_error(const ShardIndex& idx, const std::vector<Header>& headers) {
  std::vector<const Header*> ptrs;
  for (const auto& h : headers) ptrs.push_back(&h);
  try {
    check_shards_match_index(idx, ptrs, "i.json");
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "accepted";
  return Error(Errc::Io, "none");
}

TEST(ShardIndex, ShardsMustHoldExactlyWhatTheWeightMapLists) {
  const auto idx =
      parse_index(R"({"weight_map":{"a":"s1.safetensors","b":"s2.safetensors"}})", "i.json");
  std::vector<const Header*> ok;
  const Header h1 = header_of({"a"}), h2 = header_of({"b"});
  ok = {&h1, &h2};
  EXPECT_NO_THROW(check_shards_match_index(idx, ok, "i.json"));

  struct Case {
    std::vector<Header> headers;
    const char* says;
  };
  const Case cases[] = {
      {{header_of({"a", "x"}), header_of({"b"})}, "'x', which the weight_map does not list"},
      {{header_of({"a", "b"}), header_of({"b"})}, "'b' is in two shards"},
      {{header_of({}), header_of({"b"})}, "'a' is missing from shard 's1.safetensors'"},
      {{header_of({"b"}), header_of({"a"})}, "is in shard 's2.safetensors', not in"},
  };
  for (const Case& c : cases) {
    const Error e = match_error(idx, c.headers);
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << c.says;
    EXPECT_THAT(e.message(), HasSubstr(c.says));
    EXPECT_THAT(e.message(), HasSubstr("i.json"));
  }
}

}  // namespace
}  // namespace stsw::detail
