#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "convert/npy.hpp"
#include "convert/test_support.hpp"
#include "stsw/error.hpp"

namespace stsw::cvt {
namespace {

using ::testing::HasSubstr;

NpyHeader parse(const std::string& file) {
  std::size_t pos = 0;
  return read_npy_header(
      [&](std::span<std::byte> dst) {
        if (dst.size() > file.size() - pos) throw Error(Errc::InvalidArgument, "short");
        std::memcpy(dst.data(), file.data() + pos, dst.size());
        pos += dst.size();
      },
      "t.npy");
}

void expect_error(const std::string& file, Errc code, const std::string& needle) {
  try {
    (void)parse(file);
    ADD_FAILURE() << "accepted; expected " << needle;
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), code) << e.what();
    EXPECT_THAT(e.what(), HasSubstr(needle));
    EXPECT_THAT(e.what(), HasSubstr("t.npy"));
  }
}

TEST(Npy, HeaderVersionsAndFields) {
  for (int major : {1, 2, 3}) {
    const std::string f = test::make_npy("<f4", false, "(3, 4)", std::string(48, 'x'), major);
    const NpyHeader h = parse(f);
    EXPECT_EQ(h.dtype, DType::F32);
    EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{3, 4}));
    EXPECT_FALSE(h.fortran_order);
    EXPECT_EQ(h.swap_unit, 0u);
    EXPECT_EQ(h.data_offset % 64, 0u);
    EXPECT_EQ(h.data_offset + h.data_size, f.size());
  }
  NpyHeader h = parse(test::make_npy(">i8", true, "(2,)", std::string(16, 'x')));
  EXPECT_EQ(h.dtype, DType::I64);
  EXPECT_TRUE(h.fortran_order);
  EXPECT_EQ(h.swap_unit, 8u);
  h = parse(test::make_npy("<f8", false, "()", std::string(8, 'x')));
  EXPECT_TRUE(h.shape.empty());
  EXPECT_EQ(h.data_size, 8u);
  h = parse(test::make_npy("|b1", false, "(0, 5)", ""));
  EXPECT_EQ(h.dtype, DType::BOOL);
  EXPECT_EQ(h.data_size, 0u);
  // Key order and quoting vary between writers.
  h = parse_npy_dict("{\"shape\": (7L,), \"fortran_order\": False, \"descr\": \">c8\"}", "t.npy");
  EXPECT_EQ(h.dtype, DType::C64);
  EXPECT_EQ(h.swap_unit, 4u);  // two big-endian float32 halves
  EXPECT_EQ(h.shape, (std::vector<std::uint64_t>{7}));
}

TEST(Npy, EveryNumericDtype) {
  const std::vector<std::pair<std::string, DType>> cases = {
      {"|b1", DType::BOOL}, {"|i1", DType::I8},  {"|u1", DType::U8},  {"<i2", DType::I16},
      {"<u2", DType::U16},  {"<i4", DType::I32}, {"<u4", DType::U32}, {"<i8", DType::I64},
      {"<u8", DType::U64},  {"<f2", DType::F16}, {"<f4", DType::F32}, {"<f8", DType::F64},
      {"<c8", DType::C64},  {"=f4", DType::F32}};
  for (const auto& [descr, dtype] : cases) {
    const auto [d, swap] = npy_descr_dtype(descr, "t.npy");
    EXPECT_EQ(d, dtype) << descr;
    EXPECT_EQ(swap, 0u) << descr;
  }
  EXPECT_EQ(npy_descr_dtype(">u2", "t").second, 2u);
  EXPECT_EQ(npy_descr_dtype(">f4", "t").second, 4u);
  EXPECT_EQ(npy_descr_dtype(">i1", "t").second, 0u);
}

TEST(Npy, RefusedDtypes) {
  auto refused = [](const std::string& descr, const std::string& needle) {
    expect_error(test::make_npy(descr, false, "(1,)", "xxxxxxxxxxxxxxxx"), Errc::Unsupported,
                 needle);
  };
  refused("|O", "object array");
  refused("<U5", "string array");
  refused("|S3", "string array");
  refused("|V2", "void");
  refused("<M8[ns]", "datetime");
  refused("<c16", "complex wider");
  refused("<f16", "extended precision");
  refused("<q8", "is not a dtype safetensors can hold");
  std::string structured = test::make_npy("X", false, "(1,)", "");
  const std::string rec = "[('a', '<f4'), ('b', '<i4')]";
  structured.replace(structured.find("'X'"), 3, rec);
  expect_error(structured, Errc::Unsupported, "structured numpy dtype");
}

TEST(Npy, MalformedHeaders) {
  std::string f = test::make_npy("<f4", false, "(3,)", "");
  f[0] = 'x';
  expect_error(f, Errc::InvalidArgument, "magic");
  f = test::make_npy("<f4", false, "(3,)", "");
  f[6] = 9;
  expect_error(f, Errc::Unsupported, "version 9.0");
  expect_error(test::make_npy("<f4", false, "(-3,)", ""), Errc::InvalidArgument, "negative");
  expect_error(test::make_npy("<f4", false, "(3.5,)", ""), Errc::InvalidArgument, "expected ')'");
  expect_error(test::make_npy("<f4", false, "[3]", ""), Errc::InvalidArgument,
               "'shape' is not a tuple");
  expect_error(test::make_npy("<f4", false, "(99999999999999999999,)", ""), Errc::InvalidArgument,
               "overflows 64 bits");
  expect_error(test::make_npy("<f4", false, "(4294967296, 4294967296)", ""), Errc::InvalidArgument,
               "overflows 64 bits");
  EXPECT_THROW((void)parse_npy_dict("{'descr': '<f4', 'shape': (1,)}", "t"), Error);
  EXPECT_THROW((void)parse_npy_dict("{'descr': '<f4', 'fortran_order': 1, 'shape': (1,)}", "t"),
               Error);
  EXPECT_THROW(
      (void)parse_npy_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", "t"),
      Error);
  EXPECT_THROW(
      (void)parse_npy_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", "t"),
      Error);
  EXPECT_THROW((void)parse_npy_dict("{'descr': '<f4", "t"), Error);
  EXPECT_THROW((void)parse_npy_dict(std::string(100, '(') + std::string(100, ')'), "t"), Error);
  // A header length beyond the limit is refused before it is read.
  f = test::make_npy("<f4", false, "(3,)", "", 2);
  f[10] = static_cast<char>(0xFF);
  f[11] = static_cast<char>(0x7F);
  expect_error(f, Errc::InvalidArgument, "header length");
}

}  // namespace
}  // namespace stsw::cvt
