// stsw::convert's sharded output goes through the sharded-set writer of stsw::dump: a failed
// conversion (a CRC mismatch in any tensor) leaves an existing set byte-identical, and a set
// converted onto its own stem is replaced safely (new names, the index last, then the old
// shards removed).
#include <fcntl.h>
#include <unistd.h>

#include <functional>
#include <map>

#include "convert/convert_fixture.hpp"
#include "stsw/dump.hpp"

namespace stsw {
namespace {

constexpr std::size_t kBytes = 40000;

struct Tensors {
  std::map<std::string, std::string> data;
  std::vector<TensorView> views;
};

Tensors make_tensors(std::size_t count, char seed) {
  Tensors t;
  for (std::size_t i = 0; i < count; ++i) {
    std::string d(kBytes, '\0');
    for (std::size_t j = 0; j < d.size(); ++j) d[j] = static_cast<char>(seed + j * (i + 3));
    t.data["t" + std::to_string(i)] = std::move(d);
  }
  for (const auto& [name, d] : t.data) {
    t.views.push_back({name, DType::U8, {d.size()}, std::as_bytes(std::span(d))});
  }
  return t;
}

// Dumps `t` to dir/<name>, in shards of `per_shard` tensors (0: one file).
void dump_to(const TempDir& dir, const Tensors& t, const std::string& name, std::size_t per_shard) {
  DumpOptions o;
  o.order = LayoutOrder::Keep;
  if (per_shard != 0) o.max_shard_size = per_shard * kBytes;
  (void)dump(t.views, dir.file(name), o);
}

// Flips one byte of tensor `name` in the safetensors file at `path`.
void corrupt(const std::string& path, const std::string& name) {
  std::uint64_t at = 0;
  {
    const StreamReader r = StreamReader::open(path);
    at = r.shards()[0].data_offset + r.meta(name).offset_begin + 17;
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  char c = 0;
  ASSERT_EQ(::pread(fd, &c, 1, static_cast<off_t>(at)), 1);
  c = static_cast<char>(c ^ 0x5A);
  ASSERT_EQ(::pwrite(fd, &c, 1, static_cast<off_t>(at)), 1);
  ::close(fd);
}

std::map<std::string, std::string> snapshot(const TempDir& dir) {
  std::map<std::string, std::string> s;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const std::string b = read_file(e.path().string());  // compact when a check fails
    s[e.path().filename().string()] =
        std::to_string(b.size()) + " bytes, hash " + std::to_string(std::hash<std::string>{}(b));
  }
  return s;
}

void expect_checkpoint(const std::string& path, const Tensors& t) {
  const StreamReader r = StreamReader::open(path, strict_options());
  EXPECT_TRUE(r.verify().get().passed());
  for (const auto& [name, bytes] : t.data) EXPECT_EQ(tensor_bytes(r, name), bytes) << name;
}

ConvertOptions sharded(std::size_t per_shard) {
  ConvertOptions o;
  o.order = LayoutOrder::Keep;
  o.max_shard_size = per_shard * kBytes;
  return o;
}

TEST(ConvertSharded, ACorruptTensorInAnyShardLeavesTheExistingSetIntact) {
  const Tensors old = make_tensors(6, 1), next = make_tensors(6, 2);
  for (const std::string victim : {"t0", "t2", "t5"}) {  // in shards 1, 2 and 3
    for (const std::size_t per_shard : {std::size_t{2}, std::size_t{3}}) {
      SCOPED_TRACE(victim + ", " + std::to_string(per_shard) + " per shard");
      TempDir in, out;
      dump_to(in, next, "in.safetensors", 0);
      corrupt(in.file("in.safetensors"), victim);
      dump_to(out, old, "model.safetensors", 2);
      const auto before = snapshot(out);
      try {
        (void)convert(in.file("in.safetensors"), out.file("model.safetensors"), sharded(per_shard));
        ADD_FAILURE() << "accepted a corrupt tensor";
      } catch (const Error& e) {
        EXPECT_EQ(e.code(), Errc::CrcMismatch) << e.what();
        EXPECT_THAT(e.what(), ::testing::HasSubstr("'" + victim + "'"));
      }
      EXPECT_EQ(snapshot(out), before);
      expect_checkpoint(out.file("model.safetensors.index.json"), old);
    }
  }
}

TEST(ConvertSharded, ASetOntoItsOwnStemIsReplacedSafely) {
  TempDir dir;
  const Tensors t = make_tensors(6, 3);
  dump_to(dir, t, "model.safetensors", 2);
  const std::string index = dir.file("model.safetensors.index.json");
  // The same count: generation names, the input's shards removed after the new index.
  ConvertResult r = convert(index, dir.file("model.safetensors"), sharded(2));
  EXPECT_EQ(r.files.at(0), dir.file("model-00001-of-00003-g1.safetensors"));
  expect_checkpoint(index, t);
  EXPECT_EQ(snapshot(dir).size(), 4U);
  // Another count, then one file (the index and the shards go).
  r = convert(index, dir.file("model.safetensors"), sharded(3));
  EXPECT_EQ(r.files.at(1), dir.file("model-00002-of-00002.safetensors"));
  expect_checkpoint(index, t);
  EXPECT_EQ(snapshot(dir).size(), 3U);
  r = convert(index, dir.file("model.safetensors"));
  EXPECT_FALSE(r.index.has_value());
  expect_checkpoint(dir.file("model.safetensors"), t);
  EXPECT_EQ(snapshot(dir).size(), 1U);
}

TEST(ConvertSharded, ACorruptSetOntoItsOwnStemIsLeftAsItWas) {
  TempDir dir;
  const Tensors t = make_tensors(6, 4);
  dump_to(dir, t, "model.safetensors", 2);
  corrupt(dir.file("model-00003-of-00003.safetensors"), "t5");
  const auto before = snapshot(dir);
  for (const std::size_t per_shard : {std::size_t{0}, std::size_t{2}, std::size_t{3}}) {
    SCOPED_TRACE(per_shard);
    const ConvertOptions o = per_shard == 0 ? ConvertOptions{} : sharded(per_shard);
    try {
      (void)convert(dir.file("model.safetensors.index.json"), dir.file("model.safetensors"), o);
      ADD_FAILURE() << "accepted a corrupt tensor";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::CrcMismatch) << e.what();
    }
    EXPECT_EQ(snapshot(dir), before);
  }
}

// An input that has a shard name of the output's stem (no index names it) is never
// overwritten: a failed conversion cannot replace and then remove it, and a successful one
// leaves it.
TEST(ConvertSharded, AnInputUnderAShardNameOfTheOutputIsNeverTaken) {
  TempDir dir;
  const Tensors t = make_tensors(6, 5);
  const std::string input = dir.file("model-00001-of-00003.safetensors");
  dump_to(dir, t, "model-00001-of-00003.safetensors", 0);
  const std::string good = read_file(input);
  corrupt(input, "t5");  // the third shard fails
  const auto before = snapshot(dir);
  try {
    (void)convert(input, dir.file("model.safetensors"), sharded(2));
    ADD_FAILURE() << "accepted a corrupt tensor";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch) << e.what();
  }
  EXPECT_EQ(snapshot(dir), before);
  write_file(input, good);
  const ConvertResult r = convert(input, dir.file("model.safetensors"), sharded(2));
  EXPECT_EQ(r.files.at(0), dir.file("model-00001-of-00003-g1.safetensors"));
  expect_checkpoint(*r.index, t);
  EXPECT_EQ(read_file(input), good);
  EXPECT_EQ(snapshot(dir).size(), 5U);  // the input, three shards, the index
}

}  // namespace
}  // namespace stsw
