// The canonical layout with crc32 off and align 8 reproduces the official serializer's
// files (../shared/vectors/reference, described by MANIFEST.json) byte for byte, on both
// backends and in both I/O modes.
#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "stsw/writer.hpp"
#include "writer_test_support.hpp"

namespace stsw::writer_test {
namespace {

namespace json = boost::json;

std::vector<std::byte> from_hex(const std::string& hex) {
  std::vector<std::byte> out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

json::object manifest_references() {
  const std::string path = std::string(STSW_VECTORS_DIR) + "/MANIFEST.json";
  const std::vector<std::byte> bytes = read_file(path);
  return json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
      .as_object()
      .at("reference")
      .as_object();
}

class WriterReference : public ::testing::TestWithParam<IoConfig> {};

TEST_P(WriterReference, CanonicalLayoutMatchesTheOfficialWriterByteForByte) {
  auto engine = make_engine(GetParam().backend, 16 * 1024, 4);
  if (!engine) GTEST_SKIP() << "io_uring is not available on this kernel";
  TempDir dir;
  const json::object refs = manifest_references();
  ASSERT_GE(refs.size(), 8U);
  for (const auto& [file_name, desc] : refs) {
    SCOPED_TRACE(std::string(file_name));
    std::vector<TensorSpec> specs;
    DataMap data;
    for (const json::value& t : desc.at("tensors").as_array()) {
      const json::object& o = t.as_object();
      TensorSpec s;
      s.name = json::value_to<std::string>(o.at("name"));
      s.dtype = parse_dtype(json::value_to<std::string>(o.at("dtype"))).value();
      for (const json::value& d : o.at("shape").as_array())
        s.shape.push_back(d.to_number<std::uint64_t>());
      const std::uint64_t n = o.at("nbytes").to_number<std::uint64_t>();
      std::vector<std::byte> bytes(n);
      for (std::uint64_t i = 0; i < n; ++i) bytes[i] = static_cast<std::byte>(i & 0xFF);
      if (const json::value* hex = o.if_contains("data_hex")) {
        bytes = from_hex(json::value_to<std::string>(*hex));
      }
      data[s.name] = std::move(bytes);
      specs.push_back(std::move(s));
    }
    std::optional<Metadata> metadata;
    if (const json::value& md = desc.at("metadata"); md.is_object()) {
      metadata = Metadata{};
      for (const auto& [k, v] : md.as_object()) {
        (*metadata)[std::string(k)] = json::value_to<std::string>(v);
      }
    }
    const Layout layout = plan_layout(specs, LayoutOrder::Canonical, 8, metadata, false);
    WriterOptions o;
    o.engine = engine;
    o.io_mode = GetParam().mode;
    o.crc32 = false;
    o.align = 8;
    o.metadata = metadata;
    const std::string path = dir.file(std::string(file_name));
    auto w = StreamWriter::open(path, layout.tensors, o);
    for (const TensorMeta& t : layout.tensors) w.write_block(t.name, data.at(t.name)).get();
    w.close().get();
    const auto expected =
        read_file(std::string(STSW_VECTORS_DIR) + "/reference/" + std::string(file_name));
    EXPECT_EQ(read_file(path), expected);
  }
}

INSTANTIATE_TEST_SUITE_P(Io, WriterReference, ::testing::ValuesIn(io_configs()),
                         [](const auto& info) { return config_name(info.param); });

}  // namespace
}  // namespace stsw::writer_test
