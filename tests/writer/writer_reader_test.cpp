// Round trips through the StreamReader: what the writer wrote reads back, CRC-verified,
// on both backends and in both I/O modes; a sharded dump opens through its index.
#include <gtest/gtest.h>

#include "stsw/dump.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

class WriterReaderRoundTrip : public ::testing::TestWithParam<IoConfig> {};

TEST_P(WriterReaderRoundTrip, ReadsBackVerified) {
  auto engine = make_engine(GetParam().backend, 64 * 1024, 8);
  if (!engine) GTEST_SKIP() << "io_uring is not available on this kernel";
  TempDir dir;
  std::vector<Spec> specs;
  for (DType d : kAllDTypes) {
    specs.push_back({"x." + std::string(to_string(d)), d, {4, 4099}});
  }
  specs.push_back({"scalar", DType::F32, {}});
  specs.push_back({"empty", DType::U8, {0}});
  specs.push_back({"large", DType::U8, {(1 << 20) + 3}});
  const auto metas = contiguous(specs);
  DataMap data;
  unsigned seed = 1;
  for (const auto& t : metas) data[t.name] = pattern(t.nbytes(), seed++);
  const std::string path = dir.file("rt.safetensors");
  WriterOptions wo;
  wo.engine = engine;
  wo.io_mode = GetParam().mode;
  auto w = StreamWriter::open(path, metas, wo);
  for (const auto& t : metas) w.write_block(t.name, data.at(t.name)).get();
  w.close().get();

  ReaderOptions ro;
  ro.engine = engine;
  ro.io_mode = GetParam().mode == IoMode::Direct ? ReadMode::Direct : ReadMode::Buffered;
  auto r = StreamReader::open(path, ro);
  ASSERT_EQ(r.size(), metas.size());
  for (const auto& t : metas) {
    std::vector<std::byte> dst(t.nbytes());
    r.read_into(t.name, dst).get();
    EXPECT_EQ(dst, data.at(t.name)) << t.name;
    ASSERT_TRUE(r.meta(t.name).crc32.has_value()) << t.name;
    EXPECT_EQ(*r.meta(t.name).crc32, zlib_crc(data.at(t.name))) << t.name;
  }
  const VerifyReport rep = r.verify().get();
  EXPECT_TRUE(rep.passed());
  EXPECT_EQ(rep.ok, metas.size());
}

INSTANTIATE_TEST_SUITE_P(Io, WriterReaderRoundTrip, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

TEST(WriterReaderRoundTrip, ShardedDumpOpensThroughItsIndex) {
  TempDir dir;
  DataMap data;
  std::vector<TensorView> views;
  for (int i = 0; i < 7; ++i) {
    data["w" + std::to_string(i)] = pattern(10000 + 1000 * static_cast<std::size_t>(i), i + 1);
  }
  for (const auto& [name, bytes] : data) views.push_back({name, DType::U8, {bytes.size()}, bytes});
  DumpOptions o;
  o.max_shard_size = 30000;
  const DumpResult res = dump(views, dir.file("model.safetensors"), o);
  ASSERT_TRUE(res.index.has_value());
  auto r = StreamReader::open(*res.index, {});
  EXPECT_TRUE(r.sharded());
  EXPECT_EQ(r.size(), data.size());
  for (const auto& [name, bytes] : data) {
    std::vector<std::byte> dst(bytes.size());
    r.read_into(name, dst).get();
    EXPECT_EQ(dst, bytes) << name;
  }
  EXPECT_TRUE(r.verify().get().passed());
}

}  // namespace
}  // namespace stsw::writer_test
