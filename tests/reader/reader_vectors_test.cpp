// Every shared test vector (../shared/vectors, MANIFEST.json) through every read path,
// with the tensor values checked.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>
#include <fstream>
#include <sstream>

#include "reader/reader_test_support.hpp"
#include "stsw/reader.hpp"

namespace stsw {
namespace {

namespace json = boost::json;
using test::vectors_dir;

json::value manifest() {
  std::ifstream f(vectors_dir() + "/MANIFEST.json");
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str());
}

std::vector<std::byte> from_hex(std::string_view hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

template <typename T>
void append_le(std::vector<std::byte>& out, T v) {
  std::byte b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));  // the test machines are little-endian
  out.insert(out.end(), b, b + sizeof(T));
}

// samples/: the values -3..2 cast to the dtype, little-endian.
std::vector<std::byte> sample_values(DType d) {
  std::vector<std::byte> out;
  static const std::uint16_t f16[] = {0xC200, 0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000};
  for (int i = 0; i < 6; ++i) {
    const int v = i - 3;
    switch (d) {
      case DType::U8: append_le(out, static_cast<std::uint8_t>(v)); break;
      case DType::I8: append_le(out, static_cast<std::int8_t>(v)); break;
      case DType::U16: append_le(out, static_cast<std::uint16_t>(v)); break;
      case DType::I16: append_le(out, static_cast<std::int16_t>(v)); break;
      case DType::U32: append_le(out, static_cast<std::uint32_t>(v)); break;
      case DType::I32: append_le(out, static_cast<std::int32_t>(v)); break;
      case DType::F16: append_le(out, f16[i]); break;
      case DType::F32: append_le(out, static_cast<float>(v)); break;
      case DType::F64: append_le(out, static_cast<double>(v)); break;
      default: ADD_FAILURE() << "no sample rule for " << to_string(d);
    }
  }
  return out;
}

struct Expected {
  std::string name;
  DType dtype;
  std::vector<std::uint64_t> shape;
  std::vector<std::byte> bytes;
};

std::vector<Expected> expected_tensors(const std::string& dir, const json::object& entry) {
  std::vector<Expected> out;
  for (const auto& tv : entry.at("tensors").as_array()) {
    const auto& t = tv.as_object();
    Expected e{
        std::string(t.at("name").as_string()), *parse_dtype(t.at("dtype").as_string()), {}, {}};
    for (const auto& d : t.at("shape").as_array()) e.shape.push_back(d.to_number<std::uint64_t>());
    if (dir == "samples") {
      e.bytes = sample_values(e.dtype);
    } else if (const auto* hex = t.if_contains("data_hex")) {
      e.bytes = from_hex(hex->as_string());
    } else {
      const auto n = t.at("nbytes").to_number<std::size_t>();
      for (std::size_t i = 0; i < n; ++i) e.bytes.push_back(static_cast<std::byte>(i & 0xff));
    }
    out.push_back(std::move(e));
  }
  return out;
}

// Reads every tensor through get_slice, read_into (each I/O mode) and for_each.
void check_all_paths(const std::string& path, const ReaderOptions& base,
                     const std::vector<Expected>& want) {
  for (ReadMode mode : {ReadMode::Buffered, ReadMode::Direct, ReadMode::Mmap, ReadMode::Auto}) {
    SCOPED_TRACE(std::string(to_string(mode)));
    ReaderOptions o = base;
    o.io_mode = mode;
    auto r = StreamReader::open(path, o);
    ASSERT_EQ(r.size(), want.size());
    for (const auto& e : want) {
      SCOPED_TRACE(e.name);
      ASSERT_TRUE(r.contains(e.name));
      const TensorMeta& m = r.meta(e.name);
      EXPECT_EQ(m.dtype, e.dtype);
      EXPECT_EQ(m.shape, e.shape);
      ASSERT_EQ(m.nbytes(), e.bytes.size());
      const auto view = r.get_slice(e.name);
      EXPECT_TRUE(std::equal(view.begin(), view.end(), e.bytes.begin(), e.bytes.end()));
      std::vector<std::byte> dst(e.bytes.size(), std::byte{0xEE});
      r.read_into(e.name, dst).get();
      EXPECT_EQ(dst, e.bytes);
    }
    std::map<std::string, std::vector<std::byte>> streamed;
    std::vector<std::string> order;
    r.for_each([&](const TensorMeta& m, std::uint64_t off, std::span<const std::byte> b) {
      if (off == 0) order.push_back(m.name);
      auto& v = streamed[m.name];
      EXPECT_EQ(off, v.size());
      v.insert(v.end(), b.begin(), b.end());
    });
    EXPECT_EQ(order, r.keys());
    for (const auto& e : want) EXPECT_EQ(streamed[e.name], e.bytes) << e.name;
  }
}

class VectorTest : public ::testing::TestWithParam<std::string> {};

TEST_P(VectorTest, LoadsStrictWithEveryValueOnEveryPath) {
  const std::string dir = GetParam();
  const json::value m = manifest();
  const auto& files = m.at(dir).as_object();
  ASSERT_FALSE(files.empty());
  for (const auto& [name, entry] : files) {
    SCOPED_TRACE(std::string(name));
    const std::string path = vectors_dir() + "/" + dir + "/" + std::string(name);
    const auto want = expected_tensors(dir, entry.as_object());
    check_all_paths(path, ReaderOptions{}, want);

    auto r = StreamReader::open(path);
    // keys() is file order: offsets ascending.
    std::uint64_t prev = 0;
    for (const auto& k : r.keys()) {
      EXPECT_GE(r.meta(k).offset_begin, prev);
      prev = r.meta(k).offset_begin;
    }
    const auto& md = entry.as_object().at("metadata");
    if (md.is_null()) {
      EXPECT_TRUE(r.metadata().empty());
    } else {
      Metadata expect;
      for (const auto& [k, v] : md.as_object()) expect[std::string(k)] = std::string(v.as_string());
      EXPECT_EQ(r.metadata(), expect);
    }
    const VerifyReport rep = r.verify().get();
    EXPECT_TRUE(rep.passed());
    EXPECT_EQ(rep.unchecked, want.size());  // official files carry no crc32
  }
}

INSTANTIATE_TEST_SUITE_P(Vectors, VectorTest, ::testing::Values("reference", "samples"));

TEST(Vectors, ReferenceFilesListTensorsInCanonicalOrder) {
  const json::value m = manifest();
  for (const auto& [name, entry] : m.at("reference").as_object()) {
    auto want = expected_tensors("reference", entry.as_object());
    std::stable_sort(want.begin(), want.end(), [](const Expected& a, const Expected& b) {
      if (a.dtype != b.dtype) return dtype_rank(a.dtype) > dtype_rank(b.dtype);
      return a.name < b.name;
    });
    std::vector<std::string> names;
    for (const auto& e : want) names.push_back(e.name);
    EXPECT_EQ(StreamReader::open(vectors_dir() + "/reference/" + std::string(name)).keys(), names)
        << name;
  }
}

TEST(Vectors, PythonStswFilesAreRefusedStrictAndReadLenient) {
  const json::value m = manifest();
  for (const auto& [name, entry] : m.at("stsw-python").as_object()) {
    if (!entry.is_object()) continue;  // "about"
    SCOPED_TRACE(std::string(name));
    const std::string path = vectors_dir() + "/stsw-python/" + std::string(name);
    try {
      (void)StreamReader::open(path);
      ADD_FAILURE() << "strict mode accepted a Python stsw file";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::InvalidHeaderDeserialization) << e.what();
      EXPECT_THAT(e.message(), ::testing::HasSubstr(path));
    }

    std::vector<Expected> want;
    for (const auto& tv : entry.at("tensors").as_array()) {
      const auto& t = tv.as_object();
      Expected e{
          std::string(t.at("name").as_string()), *parse_dtype(t.at("dtype").as_string()), {}, {}};
      for (const auto& d : t.at("shape").as_array())
        e.shape.push_back(d.to_number<std::uint64_t>());
      want.push_back(std::move(e));
    }
    // out_crc0 documents its values; out_crc1 holds the same tensors.
    want[0].bytes = from_hex("000102030405060708090a0b");
    for (int i = 0; i < 16; ++i) {
      for (int b = 1; b <= 4; ++b) want[1].bytes.push_back(static_cast<std::byte>(b));
    }
    ReaderOptions lenient;
    lenient.strict = false;
    check_all_paths(path, lenient, want);

    auto r = StreamReader::open(path, lenient);
    EXPECT_EQ(r.header().version, "1.0");
    EXPECT_EQ(r.meta("b").offset_begin, 64U);  // the hole Python stsw leaves
    const VerifyReport rep = r.verify().get();
    EXPECT_TRUE(rep.passed());
    if (name == "out_crc1.safetensors") {
      EXPECT_EQ(rep.ok, 2U);
      EXPECT_EQ(r.meta("a").crc32, 2456865125U);
    } else {
      EXPECT_EQ(rep.unchecked, 2U);
    }
  }
}

TEST(Vectors, PythonCrcMismatchMentionsXxhash) {
  test::TempDir dir;
  auto bytes = test::read_file(vectors_dir() + "/stsw-python/out_crc1.safetensors");
  const std::string path = dir.file("py.safetensors");
  test::write_file(path, bytes);
  ReaderOptions lenient;
  lenient.strict = false;
  auto r = StreamReader::open(path, lenient);
  test::flip_byte(path, r.shards()[0].data_offset + 64 + 3);  // inside tensor b
  const VerifyReport rep = r.verify().get();
  ASSERT_EQ(rep.mismatched, 1U);
  ASSERT_EQ(rep.notes.size(), 1U);
  EXPECT_THAT(rep.notes[0], ::testing::HasSubstr("xxh32"));
  std::vector<std::byte> dst(r.meta("b").nbytes());
  try {
    r.read_into("b", dst).get();
    ADD_FAILURE() << "no CRC error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.message(), ::testing::HasSubstr("xxh32"));
  }
}

}  // namespace
}  // namespace stsw
