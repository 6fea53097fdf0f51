// Files written by stsw's own writer (StreamWriter, dump) read back exactly, CRCs verified.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "reader/reader_test_support.hpp"
#include "stsw/dump.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"

namespace stsw {
namespace {

struct Owned {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> data;
};

std::vector<Owned> sample() {
  return {{"embed", DType::BF16, {300, 257}, test::pattern(300 * 257 * 2, 1)},
          {"w.0", DType::F32, {1000, 33}, test::pattern(1000 * 33 * 4, 2)},
          {"bias", DType::F64, {7}, test::pattern(56, 3)},
          {"mask", DType::BOOL, {0}, {}},
          {"q", DType::U8, {999999}, test::pattern(999999, 4)}};
}

std::vector<TensorView> views(const std::vector<Owned>& ts) {
  std::vector<TensorView> v;
  for (const auto& t : ts) v.push_back({t.name, t.dtype, t.shape, t.data});
  return v;
}

void expect_reads_back(const StreamReader& r, const std::vector<Owned>& ts, bool with_crc) {
  ASSERT_EQ(r.size(), ts.size());
  for (const auto& t : ts) {
    SCOPED_TRACE(t.name);
    const TensorMeta& m = r.meta(t.name);
    EXPECT_EQ(m.dtype, t.dtype);
    EXPECT_EQ(m.shape, t.shape);
    EXPECT_EQ(m.crc32.has_value(), with_crc);
    std::vector<std::byte> dst(t.data.size());
    r.read_into(t.name, dst).get();
    EXPECT_EQ(dst, t.data);
  }
  const VerifyReport rep = r.verify().get();
  EXPECT_TRUE(rep.passed());
  EXPECT_EQ(rep.ok, with_crc ? ts.size() : 0U);
}

TEST(RoundTrip, StreamWriterFileReadsBackStrictWithCrcs) {
  test::TempDir dir;
  const auto ts = sample();
  const std::string path = dir.file("w.safetensors");
  std::vector<TensorSpec> specs;
  for (const auto& t : ts) specs.push_back({t.name, t.dtype, t.shape});
  const Layout layout = plan_layout(specs, LayoutOrder::Canonical, 64, std::nullopt, true);
  WriterOptions wo;
  wo.metadata = Metadata{{"format", "pt"}};
  auto w = StreamWriter::open(path, layout.tensors, wo);
  std::map<std::string, const Owned*> by_name;
  for (const auto& t : ts) by_name[t.name] = &t;
  for (const auto& m : layout.tensors) {
    // In blocks of odd sizes, to cross staging buffer boundaries.
    const auto& data = by_name.at(m.name)->data;
    for (std::size_t off = 0; off < data.size(); off += 77777) {
      w.write_block(m.name,
                    std::span(data).subspan(off, std::min<std::size_t>(77777, data.size() - off)))
          .get();
    }
    w.finalize_tensor(m.name);
  }
  w.close().get();

  for (ReadMode mode : {ReadMode::Direct, ReadMode::Buffered, ReadMode::Mmap}) {
    ReaderOptions o;
    o.io_mode = mode;
    const auto r = StreamReader::open(path, o);
    expect_reads_back(r, ts, true);
    EXPECT_EQ(r.metadata().at("format"), "pt");
    EXPECT_EQ(r.shards()[0].data_offset % 64, 0U);
    // keys() shows the canonical order the writer used.
    std::vector<std::string> order;
    for (const auto& m : layout.tensors) order.push_back(m.name);
    EXPECT_EQ(r.keys(), order);
  }
}

TEST(RoundTrip, OfficialLayoutWithoutCrc) {
  test::TempDir dir;
  const auto ts = sample();
  DumpOptions o;
  o.crc32 = false;
  o.align = 8;
  o.durable = false;
  const auto res = dump(views(ts), dir.file("plain.safetensors"), o);
  ASSERT_EQ(res.files.size(), 1U);
  expect_reads_back(StreamReader::open(res.files[0]), ts, false);
}

TEST(RoundTrip, ShardedDumpReadsBackThroughItsIndex) {
  test::TempDir dir;
  const auto ts = sample();
  DumpOptions o;
  o.max_shard_size = 600000;
  o.durable = false;
  const auto res = dump(views(ts), dir.file("model.safetensors"), o);
  ASSERT_TRUE(res.index.has_value());
  ASSERT_GT(res.files.size(), 1U);
  const auto r = StreamReader::open(*res.index);
  EXPECT_TRUE(r.sharded());
  EXPECT_EQ(r.shards().size(), res.files.size());
  expect_reads_back(r, ts, true);
  std::uint64_t total = 0;
  for (const auto& t : ts) total += t.data.size();
  EXPECT_EQ(r.index_metadata().at("total_size"), std::to_string(total));

  // Corrupt one byte of the last non-empty tensor: verify names that tensor only.
  std::string victim;
  for (const auto& k : r.keys()) {
    if (r.meta(k).nbytes() > 0) victim = k;
  }
  ShardInfo shard;
  for (const auto& s : r.shards()) {
    if (s.path == r.file_of(victim)) shard = s;
  }
  test::flip_byte(shard.path, shard.data_offset + r.meta(victim).offset_begin);
  const auto rep = r.verify().get();
  ASSERT_EQ(rep.failures().size(), 1U);
  EXPECT_EQ(rep.failures()[0]->name, victim);
}

}  // namespace
}  // namespace stsw
