// One test per official error kind (FORMAT.md section 2) on crafted bytes, and the
// order in which the official loader reports them.
#include <gtest/gtest.h>

#include <array>

#include "codec_test_util.hpp"

namespace stsw {
namespace {

using namespace std::string_literals;
using test::make_file;
using test::strict_options;

std::string entry(std::string_view name, std::string_view dtype, std::string_view shape,
                  std::uint64_t begin, std::uint64_t end) {
  return "\"" + std::string(name) + "\":{\"dtype\":\"" + std::string(dtype) +
         "\",\"shape\":" + std::string(shape) + ",\"data_offsets\":[" + std::to_string(begin) +
         "," + std::to_string(end) + "]}";
}

std::string file_with_n(std::uint64_t n, std::string_view rest) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xFF);
  return out + std::string(rest);
}

TEST(OfficialErrors, HeaderTooSmall) {
  for (std::size_t size = 0; size < 8; ++size) {
    EXPECT_PARSE_ERROR(std::string(size, '\0'), strict_options(), Errc::HeaderTooSmall, "t.st");
  }
  const std::array<std::byte, 4> prefix{};
  try {
    static_cast<void>(parse_header_length(prefix, 1000, "short.st"));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::HeaderTooSmall);
  }
}

TEST(OfficialErrors, HeaderTooLarge) {
  EXPECT_PARSE_ERROR(file_with_n(100'000'001, "{}"), strict_options(), Errc::HeaderTooLarge,
                     "100000001");
  EXPECT_PARSE_ERROR(file_with_n(UINT64_MAX, "{}"), strict_options(), Errc::HeaderTooLarge,
                     "18446744073709551615");
  // Exactly the limit is not too large: the file is just too short for it.
  EXPECT_PARSE_ERROR(file_with_n(100'000'000, "{}"), strict_options(), Errc::InvalidHeaderLength,
                     "100000000");
}

TEST(OfficialErrors, InvalidHeaderLength) {
  EXPECT_PARSE_ERROR(file_with_n(3, "{}"), strict_options(), Errc::InvalidHeaderLength, "t.st");
  EXPECT_PARSE_ERROR(file_with_n(1, ""), strict_options(), Errc::InvalidHeaderLength,
                     "header length 1");
  std::array<std::byte, 8> prefix{};
  prefix[0] = std::byte{16};
  EXPECT_EQ(parse_header_length(prefix, 24, "x"), 16U);
  EXPECT_THROW(static_cast<void>(parse_header_length(prefix, 23, "x")), Error);
}

TEST(OfficialErrors, InvalidHeaderForNonUtf8Bytes) {
  const std::string in_name = "{" + entry("w\xff", "U8", "[1]", 0, 1) + "}";
  EXPECT_PARSE_ERROR(make_file(in_name, 1), strict_options(), Errc::InvalidHeader, "header byte 3");
  // In the padding, too, and before any JSON error.
  EXPECT_PARSE_ERROR(make_file("{}  \x80   "), strict_options(), Errc::InvalidHeader,
                     "header byte 4");
  EXPECT_PARSE_ERROR(make_file("{\xed\xa0\x80"), strict_options(), Errc::InvalidHeader,
                     "header byte 1");
}

struct DeserializationCase {
  const char* label;
  std::string header;
  std::uint64_t data_size;
  const char* needle;  // names the culprit
};

TEST(OfficialErrors, InvalidHeaderDeserialization) {
  const std::string good = entry("ok", "U8", "[1]", 0, 1);
  const DeserializationCase cases[] = {
      {"missing dtype", R"({"w":{"shape":[1],"data_offsets":[0,1]}})", 1,
       "tensor 'w': missing field dtype"},
      {"missing shape", R"({"w":{"dtype":"U8","data_offsets":[0,1]}})", 1,
       "tensor 'w': missing field shape"},
      {"missing offsets", R"({"w":{"dtype":"U8","shape":[1]}})", 1, "missing field data_offsets"},
      {"dtype not a string", R"({"w":{"dtype":8,"shape":[1],"data_offsets":[0,1]}})", 1,
       "tensor 'w'"},
      {"unknown dtype", R"({"w":{"dtype":"f32","shape":[1],"data_offsets":[0,1]}})", 1,
       "unknown dtype 'f32'"},
      {"shape not an array", R"({"w":{"dtype":"U8","shape":1,"data_offsets":[0,1]}})", 1,
       "tensor 'w'"},
      {"negative dim", R"({"w":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}})", 1, "'-1'"},
      {"float dim", R"({"w":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}})", 1, "'1.0'"},
      {"negative offset", R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[-0,1]}})", 1, "'-0'"},
      {"3 offsets", R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}})", 1, "exactly 2"},
      {"1 offset", R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0]}})", 1, "exactly 2"},
      {"entry not an object", R"({"w":5})", 0, "tensor 'w'"},
      {"metadata twice", R"({"__metadata__":{},"__metadata__":{}})", 0,
       "duplicate key __metadata__"},
      {"metadata twice after null", R"({"__metadata__":null,"__metadata__":null})", 0, "duplicate"},
      {"metadata value not a string", R"({"__metadata__":{"n":1}})", 0, "'n'"},
      {"metadata not an object", R"({"__metadata__":[]})", 0, "__metadata__"},
      {"duplicate field", R"({"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})",
       1, "duplicate field 'dtype'"},
      {"NUL padding", "{" + good + "}\0\0\0"s, 1, "'\\x00'"},
      {"BOM", "\xef\xbb\xbf{" + good + "}", 1, "header byte 0"},
      {"N = 0", "", 0, "empty"},
      {"only whitespace", "        ", 0, "t.st"},
      {"not an object", "[]", 0, "not a JSON object"},
      {"trailing comma", "{" + good + ",}", 1, "t.st"},
      {"two objects", "{}{}", 0, "after the JSON object"},
      {"comment", "{/*x*/}", 0, "t.st"},
      {"single quotes", "{'a':1}", 0, "t.st"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.label);
    EXPECT_PARSE_ERROR(make_file(c.header, c.data_size), strict_options(),
                       Errc::InvalidHeaderDeserialization, c.needle);
    EXPECT_PARSE_ERROR(make_file(c.header, c.data_size), test::lenient_options(),
                       Errc::InvalidHeaderDeserialization, c.needle);
  }
}

TEST(OfficialErrors, InvalidOffsetNamesTheTensor) {
  // Hole between a and b.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("b", "U8", "[2]", 3, 5) + "}", 5),
      strict_options(), Errc::InvalidOffset, "tensor 'b'");
  // First tensor not at 0.
  EXPECT_PARSE_ERROR(make_file("{" + entry("first", "U8", "[2]", 1, 3) + "}", 3), strict_options(),
                     Errc::InvalidOffset, "tensor 'first'");
  // end < begin.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[2]", 0, 2) + "," + entry("back", "U8", "[0]", 2, 1) + "}",
                2),
      strict_options(), Errc::InvalidOffset, "tensor 'back'");
  // Overlap: either name may be reported by the official loader; stsw names the later.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[4]", 0, 4) + "," + entry("b", "U8", "[2]", 2, 4) + "}", 4),
      strict_options(), Errc::InvalidOffset, "overlap tensor 'a'");
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[4]", 0, 4) + "," + entry("b", "U8", "[4]", 0, 4) + "}", 4),
      strict_options(), Errc::InvalidOffset, "tensor 'b'");
}

TEST(OfficialErrors, ValidationOverflowMultipliesLeftToRight) {
  // [2^32, 2^32, 0] overflows before the zero is reached.
  EXPECT_PARSE_ERROR(make_file(R"({"big":{"dtype":"U8","shape":[4294967296,4294967296,0],)"
                               R"("data_offsets":[0,0]}})"),
                     strict_options(), Errc::ValidationOverflow, "tensor 'big'");
  // ... while [0, 2^32, 2^32] is an empty tensor.
  const Header h = test::parse(
      make_file(R"({"z":{"dtype":"U8","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}})"));
  EXPECT_EQ(h.tensors.at(0).shape.size(), 3U);
  // The element count fits but the bit count does not.
  EXPECT_PARSE_ERROR(make_file(R"({"bits":{"dtype":"F32","shape":[1152921504606846976],)"
                               R"("data_offsets":[0,0]}})"),
                     strict_options(), Errc::ValidationOverflow, "tensor 'bits'");
}

TEST(OfficialErrors, MisalignedSlice) {
  EXPECT_PARSE_ERROR(make_file("{" + entry("f4", "F4", "[3]", 0, 1) + "}", 1), strict_options(),
                     Errc::MisalignedSlice, "tensor 'f4'");
  EXPECT_PARSE_ERROR(make_file("{" + entry("f6", "F6_E2M3", "[3]", 0, 2) + "}", 2),
                     strict_options(), Errc::MisalignedSlice, "tensor 'f6'");
  // 4 x 6 bits = 3 bytes is fine.
  EXPECT_NO_THROW(static_cast<void>(
      test::parse(make_file("{" + entry("f6", "F6_E3M2", "[2,2]", 0, 3) + "}", 3))));
}

TEST(OfficialErrors, TensorInvalidInfo) {
  EXPECT_PARSE_ERROR(make_file("{" + entry("w", "F32", "[2]", 0, 4) + "}", 4), strict_options(),
                     Errc::TensorInvalidInfo, "tensor 'w'");
  EXPECT_PARSE_ERROR(make_file("{" + entry("w", "F32", "[2]", 0, 12) + "}", 12), strict_options(),
                     Errc::TensorInvalidInfo, "needs 8");
}

TEST(OfficialErrors, MetadataIncompleteBuffer) {
  const std::string header = "{" + entry("last", "U8", "[4]", 0, 4) + "}";
  EXPECT_PARSE_ERROR(make_file(header, 3), strict_options(), Errc::MetadataIncompleteBuffer,
                     "tensor 'last'");
  EXPECT_PARSE_ERROR(make_file(header, 5), strict_options(), Errc::MetadataIncompleteBuffer,
                     "holds 5 bytes");
  EXPECT_PARSE_ERROR(make_file("{}", 1), strict_options(), Errc::MetadataIncompleteBuffer,
                     "no tensors");
}

TEST(OfficialOrder, LengthChecksComeFirst) {
  // Too large wins over too short.
  EXPECT_PARSE_ERROR(file_with_n(200'000'000, "{"), strict_options(), Errc::HeaderTooLarge, "");
}

TEST(OfficialOrder, Utf8BeforeJson) {
  EXPECT_PARSE_ERROR(make_file("not json \xff"), strict_options(), Errc::InvalidHeader, "");
}

TEST(OfficialOrder, JsonBeforeOffsets) {
  // A hole (InvalidOffset) in the first tensor, an unknown dtype in a later one.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[1]", 5, 6) + "," + entry("b", "Q8", "[1]", 6, 7) + "}", 7),
      strict_options(), Errc::InvalidHeaderDeserialization, "unknown dtype 'Q8'");
}

TEST(OfficialOrder, OffsetAndSizeChecksInterleaveTensorByTensor) {
  // a (first in file order) has a bad size, b a bad offset: a's error comes first.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("b", "U8", "[1]", 9, 10) + "," + entry("a", "F32", "[1]", 0, 2) + "}",
                10),
      strict_options(), Errc::TensorInvalidInfo, "tensor 'a'");
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("b", "U8", "[1]", 9, 10) + "," + entry("a", "F4", "[1]", 0, 1) + "}",
                10),
      strict_options(), Errc::MisalignedSlice, "tensor 'a'");
  EXPECT_PARSE_ERROR(make_file("{" + entry("b", "U8", "[1]", 9, 10) + "," +
                                   entry("a", "U8", "[4294967296,4294967296]", 0, 1) + "}",
                               10),
                     strict_options(), Errc::ValidationOverflow, "tensor 'a'");
  // a has a bad offset, b a bad size: the offset error comes first.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[1]", 1, 2) + "," + entry("b", "F32", "[1]", 2, 3) + "}",
                3),
      strict_options(), Errc::InvalidOffset, "tensor 'a'");
  // Check 10 only after every tensor passed.
  EXPECT_PARSE_ERROR(
      make_file("{" + entry("a", "U8", "[1]", 0, 1) + "," + entry("b", "F32", "[1]", 1, 3) + "}",
                100),
      strict_options(), Errc::TensorInvalidInfo, "tensor 'b'");
}

}  // namespace
}  // namespace stsw
