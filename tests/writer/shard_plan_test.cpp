// Unit tests of shard planning, naming and the index JSON (FORMAT.md section 7).
#include "writer/shard_plan.hpp"

#include <gtest/gtest.h>

#include "writer/target_file.hpp"

namespace stsw::writer {
namespace {

using Shards = std::vector<std::vector<std::size_t>>;

TEST(ShardPlan, GreedyInGivenOrder) {
  EXPECT_EQ(plan_shards({}, 10), (Shards{{}}));
  EXPECT_EQ(plan_shards({4, 4, 4}, 10), (Shards{{0, 1}, {2}}));
  EXPECT_EQ(plan_shards({5, 5, 5}, 10), (Shards{{0, 1}, {2}}));
  EXPECT_EQ(plan_shards({3, 20, 3, 3}, 10), (Shards{{0}, {1}, {2, 3}}));
  EXPECT_EQ(plan_shards({20}, 10), (Shards{{0}}));
  EXPECT_EQ(plan_shards({0, 10, 0, 1}, 10), (Shards{{0, 1, 2}, {3}}));
  EXPECT_EQ(plan_shards({UINT64_MAX, 1}, UINT64_MAX), (Shards{{0}, {1}}));
}

TEST(ShardPlan, Names) {
  EXPECT_EQ(shard_stem("model.safetensors"), "model");
  EXPECT_EQ(shard_stem("model"), "model");
  EXPECT_EQ(shard_stem(".safetensors"), ".safetensors");
  EXPECT_EQ(shard_file_name("model", 0, 5), "model-00001-of-00005.safetensors");
  EXPECT_EQ(shard_file_name("m", 99999, 100000), "m-100000-of-100000.safetensors");
  EXPECT_EQ(index_file_name("model"), "model.safetensors.index.json");
  EXPECT_EQ(shard_file_name("model", 1, 3, 1), "model-00002-of-00003-g1.safetensors");
  EXPECT_EQ(shard_file_name("model", 1, 3, 12), "model-00002-of-00003-g12.safetensors");
}

TEST(ShardPlan, RecognisesTheShardNamesOfOneStem) {
  for (const char* yes :
       {"model-00001-of-00003.safetensors", "model-00002-of-00003-g1.safetensors",
        "model-123456-of-123456-g42.safetensors", "model-00009-of-00002.safetensors"}) {
    EXPECT_TRUE(is_shard_file_name("model", yes)) << yes;
  }
  for (const char* no :
       {"model.safetensors", "model-0001-of-00003.safetensors", "model-00001-of-00003.safetensor",
        "model-00001-of-00003-g.safetensors", "model-00001-of-00003-gx.safetensors",
        "model-00001-of-00003.safetensors.tmp", "modelx-00001-of-00003.safetensors",
        "model-a-00001-of-00003.safetensors", "other-00001-of-00003.safetensors",
        ".model-00001-of-00003.safetensors.stsw-0123456789ab"}) {
    EXPECT_FALSE(is_shard_file_name("model", no)) << no;
  }
  // A stem that is a prefix of another never claims the other's shards.
  EXPECT_FALSE(is_shard_file_name("model", "model-a-00001-of-00002.safetensors"));
  EXPECT_TRUE(is_shard_file_name("model-a", "model-a-00001-of-00002.safetensors"));
}

TEST(ShardPlan, IndexJsonIsSortedAndEscaped) {
  const std::string j = index_json(42, {{"b", "model-00002-of-00002.safetensors"},
                                        {"B\"\n", "model-00001-of-00002.safetensors"}});
  EXPECT_EQ(j,
            "{\n  \"metadata\": {\n    \"total_size\": 42\n  },\n  \"weight_map\": {\n"
            "    \"B\\\"\\n\": \"model-00001-of-00002.safetensors\",\n"
            "    \"b\": \"model-00002-of-00002.safetensors\"\n  }\n}\n");
  EXPECT_EQ(index_json(0, {}),
            "{\n  \"metadata\": {\n    \"total_size\": 0\n  },\n  \"weight_map\": {}\n}\n");
}

TEST(ShardPlan, SplitPath) {
  std::string d, b;
  split_path("a/b/c.st", d, b);
  EXPECT_EQ(d, "a/b");
  EXPECT_EQ(b, "c.st");
  split_path("c.st", d, b);
  EXPECT_EQ(d, ".");
  split_path("/c.st", d, b);
  EXPECT_EQ(d, "/");
  EXPECT_EQ(b, "c.st");
  EXPECT_EQ(hidden_temp_name("x").rfind(".x.stsw-", 0), 0U);
  EXPECT_NE(hidden_temp_name("x"), hidden_temp_name("x"));
}

}  // namespace
}  // namespace stsw::writer
