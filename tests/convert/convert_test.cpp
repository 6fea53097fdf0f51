// stsw::convert on inputs the test builds itself: hostile pickles (nothing may run),
// corrupt and absurd archives, ZIP64 and compressed torch archives, .npz files covering
// dtypes, Fortran order, big-endian data and compression, and safetensors inputs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "convert/test_support.hpp"
#include "stsw/convert.hpp"
#include "stsw/error.hpp"
#include "stsw/reader.hpp"
#include "stsw/writer.hpp"

namespace stsw {
namespace {

ReaderOptions strict_options() {
  ReaderOptions o;
  o.strict = true;
  return o;
}

using cvt::test::make_npy;
using cvt::test::make_zip;
using cvt::test::Pickle;
using cvt::test::read_file;
using cvt::test::TempDir;
using cvt::test::write_file;
using cvt::test::ZipMember;
using ::testing::HasSubstr;

std::string f32_bytes(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

std::string tensor_bytes(const StreamReader& r, const std::string& name) {
  std::string bytes(r.meta(name).nbytes(), '\0');
  r.read_into(name, std::as_writable_bytes(std::span(bytes))).get();
  return bytes;
}

// A torch-like archive: data.pkl plus storages "archive/data/<i>".
std::string torch_zip(const std::string& pickle, const std::vector<std::string>& storages,
                      const cvt::test::ZipOptions& zo = {}, bool deflate_storages = false) {
  std::vector<ZipMember> m = {{"archive/data.pkl", pickle, false}};
  for (std::size_t i = 0; i < storages.size(); ++i) {
    m.push_back({"archive/data/" + std::to_string(i), storages[i], deflate_storages});
  }
  m.push_back({"archive/version", "3\n", false});
  return make_zip(m, zo);
}

class Convert : public ::testing::Test {
 protected:
  // Expects conversion of `bytes` to fail with `code` and `needle`, leaving a previous
  // output file untouched.
  void expect_refused(const std::string& bytes, Errc code, const std::string& needle,
                      const ConvertOptions& o = {}) {
    write_file(dir_.file("in.pt"), bytes);
    write_file(dir_.file("out.safetensors"), "previous");
    try {
      (void)convert(dir_.file("in.pt"), dir_.file("out.safetensors"), o);
      ADD_FAILURE() << "accepted; expected " << to_string(code) << " '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_THAT(e.what(), HasSubstr(needle));
    }
    EXPECT_EQ(read_file(dir_.file("out.safetensors")), "previous");
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      const std::string n = entry.path().filename().string();
      EXPECT_TRUE(n == "in.pt" || n == "out.safetensors" || n == "marker") << "left behind: " << n;
    }
  }
  TempDir dir_;
};

TEST_F(Convert, HostilePicklesExecuteNothing) {
  const std::string marker = dir_.file("marker");
  const std::string cmd = "touch " + marker;
  Pickle sys;
  sys.proto(2).global("posix", "system").mark().str(cmd).tuple().reduce().stop();
  expect_refused(torch_zip(sys.bytes(), {}), Errc::Unsupported, "pickle global 'posix.system'");
  Pickle os;
  os.proto(2).empty_dict().mark().str("w").global("os", "system").mark().str(cmd).tuple().reduce();
  os.setitems().stop();
  expect_refused(torch_zip(os.bytes(), {}), Errc::Unsupported, "'os.system'");
  Pickle stack;  // protocol 4: STACK_GLOBAL builtins.exec
  stack.proto(4).op(0x8c).byte(8).raw("builtins").op(0x8c).byte(4).raw("exec").op(0x93);
  stack.mark().str("open('" + marker + "','w')").tuple().reduce().stop();
  expect_refused(torch_zip(stack.bytes(), {}), Errc::Unsupported, "'builtins.exec'");
  Pickle inst;  // INST: instantiate os.system directly
  inst.proto(2).mark().str(cmd).raw("ios\nsystem\n").stop();
  expect_refused(torch_zip(inst.bytes(), {}), Errc::Unsupported, "(INST)");
  Pickle sub;  // subprocess via a tensor's storage slot
  sub.proto(2).global("subprocess", "check_call").mark().mark().str("sh").str("-c").str(cmd);
  sub.op('l').tuple().reduce().stop();
  expect_refused(torch_zip(sub.bytes(), {}), Errc::Unsupported, "'subprocess.check_call'");
  expect_refused(torch_zip(std::string("\x80\x02\xfe.", 4), {}), Errc::Unsupported,
                 "opcode 0xfe (unknown)");
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a hostile pickle ran code";
}

TEST_F(Convert, CorruptArchives) {
  Pickle p;
  p.proto(2).empty_dict().mark().str("w").tensor("FloatStorage", "0", 4, 0, {4}, {1});
  p.setitems().stop();
  const std::string good = torch_zip(p.bytes(), {f32_bytes({1, 2, 3, 4})});
  expect_refused(good.substr(0, good.size() - 30), Errc::InvalidArgument, "corrupt zip");
  expect_refused(good.substr(0, 200), Errc::InvalidArgument, "");
  std::string outside = good;
  const std::size_t cd = outside.find("PK\x01\x02");
  outside[cd + 42] = 0x7F;  // first entry's local header offset far beyond the data
  outside[cd + 43] = 0x7F;
  expect_refused(outside, Errc::InvalidArgument, "outside the file");
  // A storage entry missing from the archive.
  expect_refused(torch_zip(p.bytes(), {}), Errc::InvalidArgument, "no entry 'archive/data/0'");
  // A zip without data.pkl and without .npy members.
  expect_refused(make_zip({{"readme.txt", "hi", false}}), Errc::InvalidArgument,
                 "neither a torch.save checkpoint");
  expect_refused("garbage that is no checkpoint at all", Errc::InvalidArgument,
                 "unrecognized input format");
}

TEST_F(Convert, AbsurdSizes) {
  Pickle huge;  // a view far beyond its storage
  huge.proto(2).empty_dict().mark().str("w");
  huge.tensor("FloatStorage", "0", 1ULL << 60, 0, {1ULL << 40, 1ULL << 10}, {1ULL << 10, 1});
  huge.setitems().stop();
  expect_refused(torch_zip(huge.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "tensor 'w' needs bytes [0, 4503599627370496) of storage '0'");
  Pickle over;  // shape whose byte size overflows 64 bits
  over.proto(2).empty_dict().mark().str("w");
  over.tensor("FloatStorage", "0", 2, 0, {1ULL << 62, 8}, {0, 0});
  over.setitems().stop();
  expect_refused(torch_zip(over.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "overflows 64 bits");
  Pickle offset;  // storage offset beyond the storage
  offset.proto(2).empty_dict().mark().str("w");
  offset.tensor("FloatStorage", "0", 2, 9, {1}, {1});
  offset.setitems().stop();
  expect_refused(torch_zip(offset.bytes(), {f32_bytes({1, 2})}), Errc::InvalidArgument,
                 "needs bytes [0, 40)");
  // data.pkl claiming a terabyte (ZIP64 sizes).
  std::string z = torch_zip(huge.bytes(), {}, {.zip64 = true});
  const std::size_t cd = z.find("PK\x01\x02");
  const std::size_t ex =
      cd + 46 + std::string("archive/data.pkl").size() + 4;  // usize in zip64 extra
  for (int i = 0; i < 8; ++i) z[ex + i] = i == 5 ? 1 : 0;    // 2^40
  expect_refused(z, Errc::InvalidArgument, "exceeds the limit");
}

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
    const ConvertResult res = convert(dir_.file("in.pt"), dir_.file("o.safetensors"));
    EXPECT_EQ(res.format, ConvertFormat::Torch);
    EXPECT_EQ(res.tensors, 5u);
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

TEST_F(Convert, UnsupportedTorchDtype) {
  Pickle p;
  p.proto(2).empty_dict().mark().str("z").tensor("ComplexDoubleStorage", "0", 1, 0, {1}, {1});
  p.setitems().stop();
  expect_refused(torch_zip(p.bytes(), {std::string(16, '\0')}), Errc::Unsupported,
                 "tensor 'z' has storage type ComplexDoubleStorage");
  Pickle q;
  q.proto(2).empty_dict().mark().str("__metadata__").tensor("FloatStorage", "0", 1, 0, {1}, {1});
  q.setitems().stop();
  expect_refused(torch_zip(q.bytes(), {f32_bytes({1})}), Errc::InvalidName, "__metadata__");
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
