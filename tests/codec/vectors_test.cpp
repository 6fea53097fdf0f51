// The shared vectors (MANIFEST.json is the ground truth): every reference file parses
// to what the manifest says and is rebuilt byte for byte; samples load with their
// values; Python stsw files load leniently, fail strictly, and their CRCs verify.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>
#include <functional>

#include "codec_test_util.hpp"
#include "stsw/crc32.hpp"

namespace stsw {
namespace {

namespace bj = boost::json;
using test::as_bytes;
using test::read_binary;
using test::vectors_dir;

const bj::object& manifest() {
  static const bj::value root = bj::parse(read_binary(vectors_dir() + "/MANIFEST.json"));
  return root.as_object();
}

std::string str(const bj::value& v) { return std::string(v.as_string()); }

std::vector<std::uint64_t> shape_of(const bj::value& v) {
  std::vector<std::uint64_t> shape;
  for (const auto& d : v.as_array()) shape.push_back(d.to_number<std::uint64_t>());
  return shape;
}

std::optional<Metadata> metadata_of(const bj::object& entry) {
  const bj::value* md = entry.if_contains("metadata");
  if (md == nullptr || md->is_null()) return std::nullopt;
  Metadata out;
  for (const auto& [k, v] : md->as_object()) out[std::string(k)] = str(v);
  return out;
}

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 0xF];
  }
  return out;
}

std::string_view tensor_bytes(const std::string& file, const Header& h, const TensorMeta& t) {
  return std::string_view(file).substr(h.data_offset() + t.offset_begin, t.nbytes());
}

// Checks a strict parse `h` against its manifest `entry`: strict-valid, the metadata, and
// each listed tensor present with its dtype and shape; `more(t, meta)` adds the caller's
// checks of each tensor.
void expect_as_manifest(const Header& h, const bj::object& entry,
                        const std::function<void(const bj::object&, const TensorMeta&)>& more) {
  EXPECT_TRUE(h.strict_valid);
  EXPECT_EQ(h.metadata, metadata_of(entry));
  const bj::array& tensors = entry.at("tensors").as_array();
  ASSERT_EQ(h.tensors.size(), tensors.size());
  for (const auto& tv : tensors) {
    const bj::object& t = tv.as_object();
    const TensorMeta* meta = h.find(str(t.at("name")));
    ASSERT_NE(meta, nullptr) << str(t.at("name"));
    EXPECT_EQ(to_string(meta->dtype), str(t.at("dtype")));
    EXPECT_EQ(meta->shape, shape_of(t.at("shape")));
    more(t, *meta);
  }
}

class ReferenceVector : public ::testing::TestWithParam<std::string> {};

TEST_P(ReferenceVector, ParsesToManifest) {
  const bj::object& entry = manifest().at("reference").at(GetParam()).as_object();
  const std::string file = read_binary(vectors_dir() + "/reference/" + GetParam());
  const Header h = test::parse(file);
  expect_as_manifest(h, entry, [&](const bj::object& t, const TensorMeta& meta) {
    EXPECT_EQ(meta.nbytes(), t.at("nbytes").to_number<std::uint64_t>());
    EXPECT_FALSE(meta.crc32.has_value());
    // Data: 0,1,2,... of the tensor's length unless the manifest says otherwise.
    std::string expected;
    if (const bj::value* data_hex = t.if_contains("data_hex")) {
      expected = str(*data_hex);
    } else {
      std::string seq;
      for (std::uint64_t i = 0; i < meta.nbytes(); ++i) seq += static_cast<char>(i);
      expected = hex(seq);
    }
    EXPECT_EQ(hex(tensor_bytes(file, h, meta)), expected) << meta.name;
  });
  // Tensors come back in file order.
  for (std::size_t i = 1; i < h.tensors.size(); ++i) {
    EXPECT_LE(h.tensors[i - 1].offset_end, h.tensors[i].offset_begin);
  }
  // The lenient reading agrees.
  const Header lenient = test::parse(file, false);
  EXPECT_TRUE(lenient.strict_valid);
  EXPECT_EQ(lenient.tensors, h.tensors);
  EXPECT_EQ(lenient.metadata, h.metadata);
}

TEST_P(ReferenceVector, RebuiltByteForByte) {
  const bj::object& entry = manifest().at("reference").at(GetParam()).as_object();
  const std::string file = read_binary(vectors_dir() + "/reference/" + GetParam());
  std::vector<TensorSpec> specs;
  for (const auto& tv : entry.at("tensors").as_array()) {
    const bj::object& t = tv.as_object();
    specs.push_back({str(t.at("name")), *parse_dtype(str(t.at("dtype"))), shape_of(t.at("shape"))});
  }
  const auto metadata = metadata_of(entry);
  const Layout layout = plan_layout(specs, LayoutOrder::Canonical, 8, metadata);
  const std::string header = encode_header(layout.tensors, metadata);
  ASSERT_LE(header.size(), file.size());
  EXPECT_EQ(header, file.substr(0, header.size()));
  EXPECT_EQ(layout.header_size, header.size() - 8);
  EXPECT_EQ(layout.file_size(), file.size());
  EXPECT_EQ(layout.tensors, test::parse(file).tensors);
}

std::vector<std::string> reference_names() {
  std::vector<std::string> names;
  for (const auto& [name, entry] : manifest().at("reference").as_object()) {
    names.emplace_back(name);
  }
  return names;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param.substr(0, info.param.find('.'));
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Manifest, ReferenceVector, ::testing::ValuesIn(reference_names()),
                         test_name);

TEST(ReferenceVectors, ManifestListsEveryFile) { EXPECT_EQ(reference_names().size(), 8U); }

// -3, -2, -1, 0, 1, 2 as `dtype`, little-endian.
std::string sample_values(std::string_view dtype) {
  std::string out;
  for (int v = -3; v <= 2; ++v) {
    std::uint64_t bits = 0;
    std::size_t width = 0;
    if (dtype == "U8" || dtype == "I8") {
      bits = static_cast<std::uint8_t>(v);
      width = 1;
    } else if (dtype == "U16" || dtype == "I16") {
      bits = static_cast<std::uint16_t>(v);
      width = 2;
    } else if (dtype == "U32" || dtype == "I32") {
      bits = static_cast<std::uint32_t>(v);
      width = 4;
    } else if (dtype == "F16") {
      // Small integers in IEEE half precision: sign, exponent bias 15, 10-bit mantissa.
      static const std::uint16_t halves[] = {0xC200, 0xC000, 0xBC00, 0x0000, 0x3C00, 0x4000};
      bits = halves[v + 3];
      width = 2;
    } else if (dtype == "F32") {
      const float f = static_cast<float>(v);
      std::uint32_t u = 0;
      std::memcpy(&u, &f, 4);
      bits = u;
      width = 4;
    } else if (dtype == "F64") {
      const double d = v;
      std::memcpy(&bits, &d, 8);
      width = 8;
    } else {
      ADD_FAILURE() << "no sample values for " << dtype;
    }
    for (std::size_t i = 0; i < width; ++i) out += static_cast<char>((bits >> (8 * i)) & 0xFF);
  }
  return out;
}

TEST(SampleVectors, LoadWithTheirValues) {
  int files = 0;
  for (const auto& [name, entry_value] : manifest().at("samples").as_object()) {
    SCOPED_TRACE(std::string(name));
    const bj::object& entry = entry_value.as_object();
    const std::string file = read_binary(vectors_dir() + "/samples/" + std::string(name));
    const Header h = test::parse(file);
    expect_as_manifest(h, entry, [&](const bj::object& t, const TensorMeta& meta) {
      EXPECT_EQ(hex(tensor_bytes(file, h, meta)), hex(sample_values(str(t.at("dtype")))))
          << meta.name;
    });
    ++files;
  }
  EXPECT_EQ(files, 10);
}

TEST(PythonStswVectors, LoadLenientlyWithVerifiedCrcs) {
  int files = 0;
  for (const auto& [name, entry_value] : manifest().at("stsw-python").as_object()) {
    if (name == "about") continue;
    SCOPED_TRACE(std::string(name));
    const std::string file = read_binary(vectors_dir() + "/stsw-python/" + std::string(name));
    const Header h = test::parse(file, false);
    EXPECT_FALSE(h.strict_valid);
    EXPECT_EQ(h.version, "1.0");
    EXPECT_FALSE(h.incomplete);
    EXPECT_EQ(h.metadata, std::nullopt);
    EXPECT_EQ(h.header_size, 184U);
    const bj::array& tensors = entry_value.as_object().at("tensors").as_array();
    ASSERT_EQ(h.tensors.size(), tensors.size());
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const bj::object& t = tensors[i].as_object();
      const TensorMeta& meta = h.tensors[i];  // the manifest lists them in file order
      EXPECT_EQ(meta.name, str(t.at("name")));
      EXPECT_EQ(to_string(meta.dtype), str(t.at("dtype")));
      EXPECT_EQ(meta.shape, shape_of(t.at("shape")));
      const bj::array& offsets = t.at("data_offsets").as_array();
      EXPECT_EQ(meta.offset_begin, offsets[0].to_number<std::uint64_t>());
      EXPECT_EQ(meta.offset_end, offsets[1].to_number<std::uint64_t>());
      const std::string_view bytes = tensor_bytes(file, h, meta);
      if (const bj::value* data_hex = t.if_contains("data_hex")) {
        EXPECT_EQ(hex(bytes), str(*data_hex));
      }
      if (meta.name == "b") {
        std::string pattern;
        for (int k = 0; k < 16; ++k) pattern += "\x01\x02\x03\x04";
        EXPECT_EQ(bytes, pattern);
      }
      if (const bj::value* crc = t.if_contains("crc32")) {
        ASSERT_TRUE(meta.crc32.has_value());
        EXPECT_EQ(*meta.crc32, crc->to_number<std::uint32_t>());
        EXPECT_EQ(*meta.crc32, crc32(std::as_bytes(std::span(bytes.data(), bytes.size()))));
      } else {
        EXPECT_FALSE(meta.crc32.has_value());
      }
    }
    // The official loader refuses them: "__version__" is not a tensor entry.
    EXPECT_PARSE_ERROR(file, test::strict_options(), Errc::InvalidHeaderDeserialization,
                       "tensor '__version__'");
    ++files;
  }
  EXPECT_EQ(files, 2);
}

TEST(PythonStswVectors, StrictlyWithoutTheVersionTheyStillFailOnTheHole) {
  // Drop "__version__" (same length, so N and the data stay): the hole between a and b
  // is the next thing the official loader refuses.
  std::string file = read_binary(vectors_dir() + "/stsw-python/out_crc1.safetensors");
  const std::string key = "\"__version__\":\"1.0\",";
  const std::size_t at = file.find(key);
  ASSERT_NE(at, std::string::npos);
  file.replace(at, key.size(), std::string(key.size(), ' '));
  EXPECT_PARSE_ERROR(file, test::strict_options(), Errc::InvalidOffset, "tensor 'b'");
  const Header h = test::parse(file, false);
  EXPECT_FALSE(h.strict_valid);
  EXPECT_EQ(h.version, std::nullopt);
}

}  // namespace
}  // namespace stsw
