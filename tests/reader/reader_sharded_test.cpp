// Sharded checkpoints through model.safetensors.index.json.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

using test::TensorData;
using ::testing::HasSubstr;

class ShardedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    shards_ = {
        {{"embed", DType::F32, {1000}, test::pattern(4000, 1)},
         {"layer.0", DType::U8, {70000}, test::pattern(70000, 2)}},
        {{"layer.1", DType::U8, {123457}, test::pattern(123457, 3)},
         {"norm", DType::F32, {}, test::pattern(4, 4)}},
        {{"head", DType::U8, {999}, test::pattern(999, 5)}},
    };
    for (std::size_t i = 0; i < shards_.size(); ++i) write_shard(i, shards_[i]);
  }

  static std::string shard_name(std::size_t i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05d.safetensors", i + 1, 3);
    return buf;
  }

  void write_shard(std::size_t i, const std::vector<TensorData>& ts) {
    test::LayoutOptions o;
    o.metadata = Metadata{{"format", "pt"}};
    test::write_file(dir_.file(shard_name(i)), test::build_file(ts, o));
  }

  // weight_map entries "tensor":"shard" joined as JSON.
  std::string index(const std::vector<std::pair<std::string, std::string>>& map) {
    std::string wm;
    for (const auto& [t, s] : map) wm += (wm.empty() ? "" : ",") + ("\"" + t + "\":\"" + s + "\"");
    const std::string path = dir_.file("model.safetensors.index.json");
    std::ofstream(path) << R"({"metadata":{"total_size":198460},"weight_map":{)" << wm << "}}";
    return path;
  }

  std::vector<std::pair<std::string, std::string>> good_map() const {
    std::vector<std::pair<std::string, std::string>> m;
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      for (const auto& t : shards_[i]) m.emplace_back(t.name, shard_name(i));
    }
    return m;
  }

  Error open_error(const std::string& index_path) {
    try {
      (void)StreamReader::open(index_path);
    } catch (const Error& e) {
      return e;
    }
    ADD_FAILURE() << "accepted";
    return Error(Errc::Io, "accepted");
  }

  test::TempDir dir_;
  std::vector<std::vector<TensorData>> shards_;
};

TEST_F(ShardedTest, OneReaderOverAllShards) {
  for (ReadMode mode : {ReadMode::Buffered, ReadMode::Direct, ReadMode::Mmap}) {
    SCOPED_TRACE(std::string(to_string(mode)));
    ReaderOptions o;
    o.io_mode = mode;
    o.chunk_size = 64 * 1024;
    const auto r = StreamReader::open(index(good_map()), o);
    EXPECT_TRUE(r.sharded());
    EXPECT_EQ(r.shards().size(), 3U);
    EXPECT_EQ(r.keys(), (std::vector<std::string>{"embed", "layer.0", "layer.1", "norm", "head"}));
    EXPECT_EQ(r.metadata().at("format"), "pt");
    EXPECT_EQ(r.index_metadata().at("total_size"), "198460");
    for (std::size_t i = 0; i < shards_.size(); ++i) {
      for (const auto& t : shards_[i]) {
        EXPECT_EQ(r.file_of(t.name), dir_.file(shard_name(i)));
        std::vector<std::byte> dst(t.data.size());
        r.read_into(t.name, dst).get();
        EXPECT_EQ(dst, t.data) << t.name;
        const auto v = r.get_slice(t.name);
        EXPECT_TRUE(std::equal(v.begin(), v.end(), t.data.begin(), t.data.end()));
      }
    }
    std::vector<std::string> order;
    r.for_each([&](const TensorMeta& m, std::uint64_t off, std::span<const std::byte>) {
      if (off == 0) order.push_back(m.name);
    });
    EXPECT_EQ(order, r.keys());
    const auto rep = r.verify().get();
    EXPECT_TRUE(rep.passed());
    EXPECT_EQ(rep.ok, 5U);
  }
}

TEST_F(ShardedTest, RelativeIndexPath) {
  const std::string path = index(good_map());
  const auto cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_.path());
  try {
    const auto r = StreamReader::open("model.safetensors.index.json");
    EXPECT_EQ(r.size(), 5U);
    EXPECT_EQ(r.file_of("head"), shard_name(2));
  } catch (...) {
    std::filesystem::current_path(cwd);
    throw;
  }
  std::filesystem::current_path(cwd);
  (void)path;
}

TEST_F(ShardedTest, VerifyNamesTheCorruptTensorAndItsShard) {
  const auto r = StreamReader::open(index(good_map()));
  const auto s1 = r.shards()[1];
  test::flip_byte(s1.path, s1.data_offset + r.meta("layer.1").offset_begin + 65536);
  const auto rep = r.verify().get();
  ASSERT_EQ(rep.failures().size(), 1U);
  EXPECT_EQ(rep.failures()[0]->name, "layer.1");
  EXPECT_EQ(rep.failures()[0]->file, s1.path);
  std::vector<std::byte> dst(r.meta("layer.1").nbytes());
  try {
    r.read_into("layer.1", dst).get();
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), HasSubstr(shard_name(1)));
  }
}

TEST_F(ShardedTest, MissingShard) {
  auto m = good_map();
  m.emplace_back("ghost", "model-00009-of-00009.safetensors");
  const Error e = open_error(index(m));
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("model-00009-of-00009.safetensors"));
  EXPECT_THAT(e.message(), HasSubstr("does not exist"));
  EXPECT_THAT(e.message(), HasSubstr("model.safetensors.index.json"));
}

TEST_F(ShardedTest, ShardNamesWithPathComponents) {
  // Each would resolve to a real, valid file: the name alone must be refused.
  std::filesystem::create_directory(dir_.file("sub"));
  std::filesystem::copy_file(dir_.file(shard_name(2)), dir_.file("sub/" + shard_name(2)));
  const std::vector<std::string> names = {
      "../" + std::filesystem::path(dir_.path()).filename().string() + "/" + shard_name(2),
      dir_.file(shard_name(2)), "sub/" + shard_name(2), "./" + shard_name(2)};
  for (const std::string& bad : names) {
    auto m = good_map();
    m.back().second = bad;
    const Error e = open_error(index(m));
    EXPECT_EQ(e.code(), Errc::InvalidIndex) << bad;
    EXPECT_THAT(e.message(), HasSubstr("not a plain file name")) << bad;
  }
}

TEST_F(ShardedTest, TensorAbsentFromItsShard) {
  auto m = good_map();
  m.emplace_back("phantom", shard_name(0));
  const Error e = open_error(index(m));
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("'phantom' is missing from shard '" + shard_name(0) + "'"));
}

TEST_F(ShardedTest, TensorMappedToTheWrongShard) {
  auto m = good_map();
  m.front().second = shard_name(1);  // "embed" lives in shard 0
  const Error e = open_error(index(m));
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("'embed'"));
}

TEST_F(ShardedTest, TensorInTwoShards) {
  write_shard(2, {{"head", DType::U8, {999}, test::pattern(999, 5)},
                  {"embed", DType::F32, {1000}, test::pattern(4000, 1)}});
  const Error e = open_error(index(good_map()));
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("'embed' is in two shards"));
}

TEST_F(ShardedTest, ShardTensorMissingFromTheWeightMap) {
  write_shard(2, {{"head", DType::U8, {999}, test::pattern(999, 5)},
                  {"extra", DType::U8, {3}, test::pattern(3, 6)}});
  const Error e = open_error(index(good_map()));
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("'extra', which the weight_map does not list"));
}

TEST_F(ShardedTest, BadIndexJson) {
  const std::string path = dir_.file("model.safetensors.index.json");
  std::ofstream(path) << R"({"weight_map": {"a": )";
  const Error e = open_error(path);
  EXPECT_EQ(e.code(), Errc::InvalidIndex);
  EXPECT_THAT(e.message(), HasSubstr("not valid JSON"));
}

TEST_F(ShardedTest, MalformedShardKeepsItsOwnErrorKind) {
  test::write_file(dir_.file(shard_name(1)), std::vector<std::byte>(5, std::byte{0}));
  const Error e = open_error(index(good_map()));
  EXPECT_EQ(e.code(), Errc::HeaderTooSmall);
  EXPECT_THAT(e.message(), HasSubstr(shard_name(1)));
}

}  // namespace
}  // namespace stsw
