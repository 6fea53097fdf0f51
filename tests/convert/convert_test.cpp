// stsw::convert on inputs the test builds itself: ZIP64 and compressed torch archives with
// shared storages and views, .npz files covering dtypes, Fortran order, big-endian data and
// compression, and safetensors inputs (hostile ones: hostile_test.cpp).
#include "convert/convert_fixture.hpp"

namespace stsw {
namespace {

using ::testing::HasSubstr;

TEST_F(Convert, TorchLayoutsZip64AndCompressedStorages) {
  // Shared storage: a transposed view and a slice of the same 2x3 storage, tied weights.
  const std::string storage = f32_bytes({0, 1, 2, 3, 4, 5});
  Pickle p;
  p.proto(2).global("collections", "OrderedDict").empty_tuple().reduce().mark();
  p.str("base").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1}).op('q').byte(1);
  p.str("t").tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3});
  p.str("row1").tensor("FloatStorage", "0", 6, 3, {3}, {1});
  p.str("tied").op('h').byte(1);
  p.str("scalar").tensor("FloatStorage", "0", 6, 5, {}, {});
  p.setitems().stop();
  for (int variant = 0; variant < 3; ++variant) {
    SCOPED_TRACE(variant);
    const std::string zip =
        variant == 0   ? torch_zip(p.bytes(), {storage})
        : variant == 1 ? torch_zip(p.bytes(), {storage}, {.zip64 = true, .extra_padding = 40})
                       : torch_zip(p.bytes(), {storage}, {}, true);
    write_file(dir_.file("in.pt"), zip);
    // Tied weights are stored once (the alias in __metadata__, as save_model does) unless
    // deduplicate_shared is off; views that differ always get their own copy.
    const ConvertResult deduped = convert(dir_.file("in.pt"), dir_.file("d.safetensors"));
    EXPECT_EQ(deduped.tensors, 4u);
    EXPECT_EQ(deduped.aliases,
              (std::vector<std::pair<std::string, std::string>>{{"tied", "base"}}));
    const StreamReader d = StreamReader::open(dir_.file("d.safetensors"), strict_options());
    EXPECT_FALSE(d.contains("tied"));
    EXPECT_EQ(d.metadata().at("tied"), "base");
    EXPECT_EQ(tensor_bytes(d, "base"), storage);

    ConvertOptions copies;
    copies.deduplicate_shared = false;
    const ConvertResult res = convert(dir_.file("in.pt"), dir_.file("o.safetensors"), copies);
    EXPECT_EQ(res.format, ConvertFormat::Torch);
    EXPECT_EQ(res.tensors, 5u);
    EXPECT_TRUE(res.aliases.empty());
    const StreamReader r = StreamReader::open(dir_.file("o.safetensors"), strict_options());
    EXPECT_EQ(tensor_bytes(r, "base"), storage);
    EXPECT_EQ(tensor_bytes(r, "tied"), storage);
    EXPECT_EQ(tensor_bytes(r, "t"), f32_bytes({0, 3, 1, 4, 2, 5}));
    EXPECT_EQ(tensor_bytes(r, "row1"), f32_bytes({3, 4, 5}));
    EXPECT_EQ(tensor_bytes(r, "scalar"), f32_bytes({5}));
    EXPECT_TRUE(r.meta("scalar").shape.empty());
    EXPECT_TRUE(r.verify().get().passed());
  }
}

TEST_F(Convert, NpzDtypesFortranBigEndianCompression) {
  const std::string i32 = [] {
    std::string s;
    for (std::int32_t v = 0; v < 24; ++v) s.append(reinterpret_cast<const char*>(&v), 4);
    return s;
  }();
  // Fortran order: element (i, j, k) of shape (2, 3, 4) sits at i + 2j + 6k.
  std::string fortran(96, '\0'), c_of_fortran;
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) {
        const std::int32_t v = 100 * i + 10 * j + k;
        std::memcpy(fortran.data() + 4 * (i + 2 * j + 6 * k), &v, 4);
        c_of_fortran.append(reinterpret_cast<const char*>(&v), 4);
      }
  std::string big, little;
  for (std::uint16_t v = 0x0102; v < 0x0108; ++v) {
    big.push_back(static_cast<char>(v >> 8));
    big.push_back(static_cast<char>(v & 0xFF));
    little.append(reinterpret_cast<const char*>(&v), 2);
  }
  const std::string bools("\x01\x00\x01", 3);
  for (bool deflate : {false, true}) {
    SCOPED_TRACE(deflate);
    write_file(
        dir_.file("a.npz"),
        make_zip({{"ints.npy", make_npy("<i4", false, "(4, 6)", i32), deflate},
                  {"layers/0/fortran.npy", make_npy("<i4", true, "(2, 3, 4)", fortran), deflate},
                  {"big.npy", make_npy(">u2", false, "(6,)", big), deflate},
                  {"big_f.npy", make_npy(">u2", true, "(2, 3)", big), deflate},
                  {"flags.npy", make_npy("|b1", false, "(3,)", bools), deflate},
                  {"v2.npy", make_npy("<f4", false, "()", f32_bytes({7}), 2), deflate},
                  {"notes.txt", "ignored", deflate}}));
    ConvertOptions o;
    o.temp_dir = dir_.path();
    const ConvertResult res = convert(dir_.file("a.npz"), dir_.file("o.safetensors"), o);
    EXPECT_EQ(res.format, ConvertFormat::Npz);
    ASSERT_EQ(res.warnings.size(), 1u);
    EXPECT_THAT(res.warnings[0], HasSubstr("notes.txt"));
    const StreamReader r = StreamReader::open(dir_.file("o.safetensors"), strict_options());
    EXPECT_EQ(r.size(), 6u);
    EXPECT_EQ(tensor_bytes(r, "ints"), i32);
    EXPECT_EQ(tensor_bytes(r, "layers/0/fortran"), c_of_fortran);
    EXPECT_EQ(r.meta("layers/0/fortran").shape, (std::vector<std::uint64_t>{2, 3, 4}));
    EXPECT_EQ(tensor_bytes(r, "big"), little);
    // big_f: Fortran (2, 3) over values v0..v5 -> C order v0 v2 v4 v1 v3 v5.
    std::string bf;
    for (int idx : {0, 2, 4, 1, 3, 5}) bf += little.substr(2 * idx, 2);
    EXPECT_EQ(tensor_bytes(r, "big_f"), bf);
    EXPECT_EQ(r.meta("flags").dtype, DType::BOOL);
    EXPECT_EQ(tensor_bytes(r, "flags"), bools);
    EXPECT_EQ(tensor_bytes(r, "v2"), f32_bytes({7}));
    // No temporary file outlives the conversion.
    std::size_t files = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      files += e.is_regular_file();
    EXPECT_EQ(files, 2u);
  }
}

TEST_F(Convert, NpyAndNpzRefusals) {
  write_file(dir_.file("obj.npy"), make_npy("|O", false, "(2,)", "\x80\x02N."));
  try {
    (void)convert(dir_.file("obj.npy"), dir_.file("o.safetensors"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::Unsupported);
    EXPECT_THAT(e.what(), HasSubstr("object array"));
  }
  write_file(dir_.file("t.npz"),
             make_zip({{"s.npy", make_npy("<U3", false, "(1,)", std::string(12, 'a')), true}}));
  EXPECT_THROW((void)convert(dir_.file("t.npz"), dir_.file("o.safetensors")), Error);
  write_file(dir_.file("short.npy"), make_npy("<f8", false, "(100,)", std::string(16, 'a')));
  try {
    (void)convert(dir_.file("short.npy"), dir_.file("o.safetensors"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
    EXPECT_THAT(e.what(), HasSubstr("truncated"));
  }
  write_file(dir_.file("bad.npz"),
             make_zip({{"x.npy", make_npy("<f8", false, "(100,)", std::string(16, 'a')), true}}));
  EXPECT_THROW((void)convert(dir_.file("bad.npz"), dir_.file("o.safetensors")), Error);
  EXPECT_FALSE(std::filesystem::exists(dir_.file("o.safetensors")));
}

TEST_F(Convert, SafetensorsInputCrcIsChecked) {
  // A Python-stsw-like file: __version__, a hole, a wrong crc32.
  const std::string data = f32_bytes({1, 2, 3, 4});
  const std::string header =
      R"({"__version__":"1.0","a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"crc32":1},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[64,72]}})";
  std::string file;
  cvt::test::put_le(file, header.size(), 8);
  file +=
      header + data.substr(0, 8) + std::string(56, '\0') + data.substr(8) + std::string(56, '\0');
  write_file(dir_.file("py.safetensors"), file);
  try {
    (void)convert(dir_.file("py.safetensors"), dir_.file("o.safetensors"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::CrcMismatch);
    EXPECT_THAT(e.what(), HasSubstr("tensor 'a' (expected 0x00000001"));
    EXPECT_THAT(e.what(), HasSubstr("xxh32"));
  }
  EXPECT_FALSE(std::filesystem::exists(dir_.file("o.safetensors")));
  // With the right CRC the holes are squeezed out.
  const std::string fixed_header =
      R"({"__version__":"1.0","a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[64,72]}})";
  file.clear();
  cvt::test::put_le(file, fixed_header.size(), 8);
  file += fixed_header + data.substr(0, 8) + std::string(56, '\0') + data.substr(8) +
          std::string(56, '\0');
  write_file(dir_.file("py.safetensors"), file);
  (void)convert(dir_.file("py.safetensors"), dir_.file("o.safetensors"));
  const StreamReader r = StreamReader::open(dir_.file("o.safetensors"), strict_options());
  EXPECT_EQ(tensor_bytes(r, "a"), data.substr(0, 8));
  EXPECT_EQ(tensor_bytes(r, "b"), data.substr(8));
  EXPECT_EQ(r.metadata().count("__version__"), 0u);
}

}  // namespace
}  // namespace stsw
