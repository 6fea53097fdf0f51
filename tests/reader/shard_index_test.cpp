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

}  // namespace
}  // namespace stsw::detail
