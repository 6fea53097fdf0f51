// Lenient mode: files of the Python stsw (FORMAT.md section 6).
#include <gtest/gtest.h>

#include "codec_test_util.hpp"

namespace stsw {
namespace {

using test::lenient_options;
using test::make_file;
using test::parse;
using test::strict_options;

std::string entry(std::string_view name, std::uint64_t begin, std::uint64_t end) {
  return "\"" + std::string(name) + R"(":{"dtype":"U8","shape":[)" + std::to_string(end - begin) +
         R"(],"data_offsets":[)" + std::to_string(begin) + "," + std::to_string(end) + "]}";
}

TEST(Lenient, ReadsAndRecordsTheVersion) {
  const std::string file = make_file(R"({"__version__":"1.0",)" + entry("a", 0, 2) + "}", 2);
  const Header h = parse(file, false);
  EXPECT_EQ(h.version, "1.0");
  EXPECT_FALSE(h.strict_valid);
  ASSERT_EQ(h.tensors.size(), 1U);
  EXPECT_PARSE_ERROR(file, strict_options(), Errc::InvalidHeaderDeserialization,
                     "tensor '__version__'");
  EXPECT_PARSE_ERROR(make_file(R"({"__version__":"1.0","__version__":"1.1"})"), lenient_options(),
                     Errc::InvalidHeaderDeserialization, "duplicate key __version__");
  EXPECT_PARSE_ERROR(make_file(R"({"__version__":1})"), lenient_options(),
                     Errc::InvalidHeaderDeserialization, "tensor '__version__'");
}

TEST(Lenient, SpecialNamesWithTensorEntriesAreTensors) {
  const std::string file =
      make_file("{" + entry("__version__", 0, 2) + "," + entry("__incomplete__", 2, 3) + "}", 3);
  for (bool strict : {true, false}) {
    const Header h = parse(file, strict);
    EXPECT_TRUE(h.strict_valid);
    EXPECT_EQ(h.version, std::nullopt);
    EXPECT_FALSE(h.incomplete);
    ASSERT_EQ(h.tensors.size(), 2U);
    EXPECT_EQ(h.tensors[0].name, "__version__");
  }
}

TEST(Lenient, ToleratesHolesAndTrailingBytes) {
  const std::string file =
      make_file("{" + entry("a", 0, 12) + "," + entry("b", 64, 128) + "}", 192);
  EXPECT_PARSE_ERROR(file, strict_options(), Errc::InvalidOffset, "tensor 'b'");
  const Header h = parse(file, false);
  EXPECT_FALSE(h.strict_valid);
  ASSERT_EQ(h.tensors.size(), 2U);
  EXPECT_EQ(h.tensors[1].offset_begin, 64U);

  const std::string leading_hole = make_file("{" + entry("a", 8, 10) + "}", 10);
  EXPECT_PARSE_ERROR(leading_hole, strict_options(), Errc::InvalidOffset, "tensor 'a'");
  EXPECT_FALSE(parse(leading_hole, false).strict_valid);

  const std::string trailing = make_file("{" + entry("a", 0, 2) + "}", 64);
  EXPECT_PARSE_ERROR(trailing, strict_options(), Errc::MetadataIncompleteBuffer, "64");
  EXPECT_FALSE(parse(trailing, false).strict_valid);
  EXPECT_FALSE(parse(make_file("{}", 5), false).strict_valid);
}

TEST(Lenient, NeverOverlapsOrOutOfBounds) {
  EXPECT_PARSE_ERROR(make_file("{" + entry("a", 0, 4) + "," + entry("b", 3, 5) + "}", 5),
                     lenient_options(), Errc::InvalidOffset, "tensor 'b'");
  EXPECT_PARSE_ERROR(make_file("{" + entry("a", 0, 4) + "," + entry("z", 2, 2) + "}", 4),
                     lenient_options(), Errc::InvalidOffset, "tensor 'z'");
  EXPECT_PARSE_ERROR(make_file("{" + entry("a", 0, 4) + "," + entry("b", 64, 70) + "}", 69),
                     lenient_options(), Errc::MetadataIncompleteBuffer, "tensor 'b'");
  EXPECT_PARSE_ERROR(make_file(R"({"a":{"dtype":"U8","shape":[0],"data_offsets":[9,9]}})", 8),
                     lenient_options(), Errc::MetadataIncompleteBuffer, "tensor 'a'");
  EXPECT_PARSE_ERROR(make_file(R"({"r":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}})", 8),
                     lenient_options(), Errc::InvalidOffset, "tensor 'r'");
  // Size checks still apply.
  EXPECT_PARSE_ERROR(make_file(R"({"s":{"dtype":"F32","shape":[1],"data_offsets":[64,66]}})", 66),
                     lenient_options(), Errc::TensorInvalidInfo, "tensor 's'");
}

TEST(Lenient, IncompleteFilesNeedPermission) {
  const std::string file = make_file(
      R"({"__incomplete__":true,)" + entry("a", 0, 4) + "," + entry("b", 64, 96) + "}", 10);
  EXPECT_PARSE_ERROR(file, lenient_options(), Errc::IncompleteFile, "__incomplete__");
  EXPECT_PARSE_ERROR(file, strict_options(), Errc::InvalidHeaderDeserialization,
                     "tensor '__incomplete__'");
  // Allowed: the tensors the writer has not reached lie past the end of the data.
  const Header h = parse_file(test::as_bytes(file), lenient_options(true));
  EXPECT_TRUE(h.incomplete);
  EXPECT_FALSE(h.strict_valid);
  ASSERT_EQ(h.tensors.size(), 2U);
  // Overlaps are still refused.
  EXPECT_PARSE_ERROR(
      make_file(R"({"__incomplete__":true,)" + entry("a", 0, 4) + "," + entry("b", 2, 6) + "}", 6),
      lenient_options(true), Errc::InvalidOffset, "tensor 'b'");
}

TEST(Lenient, IncompleteFalseIsAFinishedFile) {
  const std::string file = make_file(R"({"__incomplete__":false,)" + entry("a", 0, 4) + "}", 4);
  const Header h = parse(file, false);
  EXPECT_FALSE(h.incomplete);
  EXPECT_FALSE(h.strict_valid);  // the official loader refuses the key
  EXPECT_PARSE_ERROR(make_file(R"({"__incomplete__":false,"__incomplete__":true})"),
                     lenient_options(true), Errc::InvalidHeaderDeserialization, "duplicate");
  EXPECT_PARSE_ERROR(make_file(R"({"__incomplete__":"yes"})"), lenient_options(true),
                     Errc::InvalidHeaderDeserialization, "tensor '__incomplete__'");
}

TEST(Lenient, StrictFilesReadTheSame) {
  const std::string file = make_file(
      R"({"__metadata__":{"format":"pt"},)" + entry("a", 0, 2) + "," + entry("b", 2, 5) + "}", 5);
  const Header strict = parse(file, true);
  const Header lenient = parse(file, false);
  EXPECT_TRUE(lenient.strict_valid);
  EXPECT_EQ(lenient.tensors, strict.tensors);
  EXPECT_EQ(lenient.metadata, strict.metadata);
  EXPECT_EQ(lenient.header_size, strict.header_size);
}

}  // namespace
}  // namespace stsw
