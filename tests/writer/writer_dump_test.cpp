// stsw::dump: one file, or an official sharded checkpoint whose index matches its shards
// and whose shards each load strictly.
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "stsw/dump.hpp"
#include "stsw/error.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

namespace json = boost::json;

struct Owned {
  std::vector<TensorView> views;
  DataMap data;
};

// Tensors t0..t(n-1) with sizes from `sizes` (bytes of U8), data by pattern.
Owned make_tensors(const std::vector<std::uint64_t>& sizes) {
  Owned o;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string name = "t" + std::to_string(i);
    o.data[name] = pattern(sizes[i], static_cast<unsigned>(i + 1));
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const std::string name = "t" + std::to_string(i);
    o.views.push_back({name, DType::U8, {sizes[i]}, o.data.at(name)});
  }
  return o;
}

json::object read_json(const std::string& path) {
  const auto bytes = read_file(path);
  return json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
      .as_object();
}

TEST(Dump, OneFileInCanonicalOrder) {
  TempDir dir;
  Owned t = make_tensors({10, 0, 4097});
  std::vector<std::byte> f32 = pattern(12, 9);
  t.data["a.f32"] = f32;
  t.views.push_back({"a.f32", DType::F32, {3}, f32});
  const DumpResult r = dump(t.views, dir.file("model.safetensors"));
  EXPECT_EQ(r.files, std::vector<std::string>{dir.file("model.safetensors")});
  EXPECT_FALSE(r.index.has_value());
  const Header h = check_file(r.files[0], true, &t.data);
  ASSERT_EQ(h.tensors.size(), 4U);
  EXPECT_EQ(h.tensors[0].name, "a.f32");  // F32 ranks above U8
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(Dump, ReproducesTheOfficialWriterWithCrcOffAndAlign8) {
  TempDir dir;
  std::vector<std::byte> bytes(16);
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<std::byte>(i);
  DumpOptions o;
  o.crc32 = false;
  o.align = 8;
  o.metadata = Metadata{{"format", "pt"}};
  dump({{"test1", DType::I32, {2, 2}, bytes}}, dir.file("x.safetensors"), o);
  EXPECT_EQ(read_file(dir.file("x.safetensors")),
            read_file(std::string(STSW_VECTORS_DIR) + "/reference/single_f32_md.safetensors"));
}

void expect_sharded(const TempDir& dir, const Owned& t, const DumpResult& r,
                    const std::vector<std::vector<std::string>>& expected_shards) {
  const std::size_t n = expected_shards.size();
  ASSERT_EQ(r.files.size(), n);
  ASSERT_TRUE(r.index.has_value());
  EXPECT_EQ(*r.index, dir.file("model.safetensors.index.json"));
  const json::object index = read_json(*r.index);
  std::uint64_t total = 0;
  for (const auto& [name, bytes] : t.data) total += bytes.size();
  EXPECT_EQ(index.at("metadata").as_object().at("total_size").to_number<std::uint64_t>(), total);
  const json::object& map = index.at("weight_map").as_object();
  EXPECT_EQ(map.size(), t.data.size());
  for (std::size_t s = 0; s < n; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", s + 1, n);
    EXPECT_EQ(r.files[s], dir.file(name));
    DataMap expected;
    for (const std::string& tn : expected_shards[s]) {
      expected[tn] = t.data.at(tn);
      EXPECT_EQ(json::value_to<std::string>(map.at(tn)), name) << tn;
    }
    const Header h = check_file(r.files[s], true, &expected);
    EXPECT_EQ(h.metadata, (Metadata{{"format", "pt"}}));
  }
}

TEST(Dump, ShardsGreedilyAndWritesTheIndexLast) {
  TempDir dir;
  const Owned t = make_tensors({400, 500, 2000, 100, 100, 0, 300});
  // A stale index from an earlier save must not survive (it would point at old shards).
  write_file(dir.file("model.safetensors.index.json"), pattern(10, 1));
  DumpOptions o;
  o.max_shard_size = 1000;
  o.order = LayoutOrder::Keep;
  const DumpResult r = dump(t.views, dir.file("model.safetensors"), o);
  expect_sharded(dir, t, r, {{"t0", "t1"}, {"t2"}, {"t3", "t4", "t5", "t6"}});
  EXPECT_EQ(dir.entries().size(), 4U);
}

TEST(Dump, ParallelShardsGiveTheSameCheckpoint) {
  TempDir dir;
  const Owned t = make_tensors({300000, 200000, 250000, 123457, 99999, 5});
  DumpOptions o;
  o.max_shard_size = 300000;
  o.parallel_shards = 3;
  o.engine = make_engine(BackendKind::Threads, 64 * 1024, 8);
  const DumpResult r = dump(t.views, dir.file("model.safetensors"), o);
  expect_sharded(dir, t, r, {{"t0"}, {"t1"}, {"t2"}, {"t3", "t4", "t5"}});
}

TEST(Dump, OneShardMeansNoIndex) {
  TempDir dir;
  const Owned t = make_tensors({10, 20});
  DumpOptions o;
  o.max_shard_size = 1000;
  const DumpResult r = dump(t.views, dir.file("model.safetensors"), o);
  EXPECT_FALSE(r.index.has_value());
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"model.safetensors"});
}

TEST(Dump, Errors) {
  TempDir dir;
  Owned t = make_tensors({10, 20});
  t.views[1].shape = {21};
  try {
    dump(t.views, dir.file("m.safetensors"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::LengthMismatch) << e.what();
    EXPECT_NE(e.message().find("'t1'"), std::string::npos) << e.what();
  }
  t = make_tensors({10, 20});
  t.views[1].name = "t0";
  DumpOptions o;
  o.max_shard_size = 10;  // duplicates in different shards are caught too
  try {
    dump(t.views, dir.file("m.safetensors"), o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::DuplicateName) << e.what();
  }
  EXPECT_TRUE(dir.entries().empty());
}

}  // namespace
}  // namespace stsw::writer_test
