// What the official loader's JSON reading accepts and refuses (FORMAT.md section 2),
// and stsw's own rules on names and crc32 fields.
#include <gtest/gtest.h>

#include "codec_test_util.hpp"

namespace stsw {
namespace {

using namespace std::string_literals;
using test::lenient_options;
using test::make_file;
using test::parse;
using test::strict_options;

const std::string kU8x2 = R"({"dtype":"U8","shape":[2],"data_offsets":[0,2]})";

TEST(JsonRules, TensorsInAnyOrderComeBackInFileOrder) {
  const Header h = parse(make_file(
      R"({"c":{"data_offsets":[3,6],"shape":[3],"dtype":"U8"},"a":{"dtype":"U8","shape":[1],)"
      R"("data_offsets":[0,1]},"b":{"shape":[2],"dtype":"U8","data_offsets":[1,3]}})",
      6));
  ASSERT_EQ(h.tensors.size(), 3U);
  EXPECT_EQ(h.tensors[0].name, "a");
  EXPECT_EQ(h.tensors[1].name, "b");
  EXPECT_EQ(h.tensors[2].name, "c");
  EXPECT_EQ(h.total_tensor_bytes(), 6U);
  EXPECT_EQ(h.find("b")->offset_begin, 1U);
  EXPECT_EQ(h.find("nope"), nullptr);
  EXPECT_EQ(h.header_size, h.data_offset() - 8);
}

TEST(JsonRules, WhitespaceAroundTheObjectAndOddLengths) {
  for (const std::string ws : {" ", "\t", "\r", "\n", " \t\r\n      \n"}) {
    const std::string header = ws + "{\"w\":" + kU8x2 + "}" + ws;
    const Header h = parse(make_file(header, 2));
    EXPECT_EQ(h.header_size, header.size());
  }
  EXPECT_NO_THROW(static_cast<void>(parse(make_file("{ \"w\" :\n" + kU8x2 + " }", 2))));
  // A form feed or a vertical tab is not JSON whitespace.
  EXPECT_PARSE_ERROR(make_file("{}\f"), strict_options(), Errc::InvalidHeaderDeserialization, "");
  EXPECT_PARSE_ERROR(make_file("\v{}"), strict_options(), Errc::InvalidHeaderDeserialization, "");
}

TEST(JsonRules, EmptyFileZeroSizeAndRankZeroTensors) {
  const Header empty = parse(make_file("{}"));
  EXPECT_TRUE(empty.tensors.empty());
  EXPECT_EQ(empty.metadata, std::nullopt);

  // Zero-size tensors may share an offset with each other and with a tensor's start.
  const Header h = parse(make_file(R"({"z2":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},)"
                                   R"("s":{"dtype":"I32","shape":[],"data_offsets":[0,4]},)"
                                   R"("z0":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                                   R"("z1":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},)"
                                   R"("z3":{"dtype":"BOOL","shape":[0],"data_offsets":[4,4]}})",
                                   4));
  ASSERT_EQ(h.tensors.size(), 5U);
  // Ties keep their JSON order.
  EXPECT_EQ(h.tensors[0].name, "z0");
  EXPECT_EQ(h.tensors[1].name, "z1");
  EXPECT_EQ(h.tensors[2].name, "s");
  EXPECT_EQ(h.tensors[3].name, "z2");
  EXPECT_EQ(h.tensors[4].name, "z3");
  EXPECT_TRUE(h.tensors[2].shape.empty());
  EXPECT_EQ(h.tensors[2].nbytes(), 4U);
}

TEST(JsonRules, NamesAreDecodedFromEscapes) {
  const Header h = parse(
      make_file(R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},)"
                R"("\u00e9\ud83d\ude00\n\"\\\/":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},)"
                R"("nul\u0000x":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                3));
  ASSERT_EQ(h.tensors.size(), 3U);
  EXPECT_EQ(h.tensors[0].name, "");
  EXPECT_EQ(h.tensors[1].name, "\xc3\xa9\xf0\x9f\x98\x80\n\"\\/");
  EXPECT_EQ(h.tensors[2].name, "nul\0x"s);
}

TEST(JsonRules, EscapedMetadataKeyIsTheMetadata) {
  const Header h = parse(make_file(R"({"\u005f_metadata__":{"format":"pt"}})"));
  EXPECT_TRUE(h.tensors.empty());
  EXPECT_EQ(h.metadata, (Metadata{{"format", "pt"}}));
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":{},"\u005f_metadata__":{}})"), strict_options(),
                     Errc::InvalidHeaderDeserialization, "duplicate key __metadata__");
}

TEST(JsonRules, LoneSurrogatesAreRefused) {
  for (const char* name : {R"(\ud800)", R"(\udc00)", R"(a\ud800b)", R"(\ud800\u0041)"}) {
    SCOPED_TRACE(name);
    EXPECT_PARSE_ERROR(make_file("{\"" + std::string(name) + "\":" + kU8x2 + "}", 2),
                       strict_options(), Errc::InvalidHeaderDeserialization, "");
  }
}

TEST(JsonRules, U64ValuesMustBeExactIntegers) {
  const Header h = parse(
      make_file(R"({"w":{"dtype":"U8","shape":[0,18446744073709551615],"data_offsets":[0,0]}})"));
  EXPECT_EQ(h.tensors.at(0).shape, (std::vector<std::uint64_t>{0, UINT64_MAX}));
  for (const char* bad : {"-0", "2.0", "1e3", "1E3", "18446744073709551616", "-1", "0.5", "\"1\"",
                          "null", "true", "[1]", "{}"}) {
    SCOPED_TRACE(bad);
    EXPECT_PARSE_ERROR(make_file(R"({"w":{"dtype":"U8","shape":[)" + std::string(bad) +
                                     R"(],"data_offsets":[0,1]}})",
                                 1),
                       strict_options(), Errc::InvalidHeaderDeserialization, "tensor 'w'");
    EXPECT_PARSE_ERROR(
        make_file(R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,)" + std::string(bad) + "]}}",
                  1),
        strict_options(), Errc::InvalidHeaderDeserialization, "tensor 'w'");
  }
  EXPECT_PARSE_ERROR(make_file(R"({"w":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}})", 1),
                     strict_options(), Errc::InvalidHeaderDeserialization, "");
}

TEST(JsonRules, UnknownFieldsAreIgnored) {
  const Header h =
      parse(make_file(R"({"w":{"x":null,"dtype":"U8","y":[1,{"z":"\u00e9"}],"shape":[2],"t":true,)"
                      R"("big":123456789012345678901234567890,"neg":-1.5e-400,"zero":0e400,)"
                      R"("data_offsets":[0,2],"x":"again"}})",
                      2));
  EXPECT_EQ(h.tensors.at(0).nbytes(), 2U);
  EXPECT_FALSE(h.tensors.at(0).crc32.has_value());
  // ... but they are parsed: serde_json refuses numbers beyond a double and lone
  // surrogates even there.
  EXPECT_PARSE_ERROR(make_file(R"({"w":{"x":1e400,"dtype":"U8","shape":[2],)"
                               R"("data_offsets":[0,2]}})",
                               2),
                     strict_options(), Errc::InvalidHeaderDeserialization,
                     "tensor 'w': number out of range: '1e400'");
  EXPECT_PARSE_ERROR(make_file(R"({"w":{"x":[-2e308],"dtype":"U8","shape":[2],)"
                               R"("data_offsets":[0,2]}})",
                               2),
                     strict_options(), Errc::InvalidHeaderDeserialization, "out of range");
  EXPECT_PARSE_ERROR(make_file(R"({"w":{"x":"\udfff","dtype":"U8","shape":[2],)"
                               R"("data_offsets":[0,2]}})",
                               2),
                     strict_options(), Errc::InvalidHeaderDeserialization, "");
}

std::string nested(int depth) {
  std::string s;
  for (int i = 0; i < depth; ++i) s += i % 2 == 0 ? "[" : "{\"k\":";
  for (int i = depth - 1; i >= 0; --i) s += i % 2 == 0 ? "]" : "}";
  return s;
}

TEST(JsonRules, NestingUpToTheRecursionLimitInIgnoredFields) {
  // The header object and the tensor entry are two levels; serde_json allows 127.
  const auto file_with_extra_depth = [](int depth) {
    return make_file(
        R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"x":)" + nested(depth) + "}}", 2);
  };
  EXPECT_NO_THROW(static_cast<void>(parse(file_with_extra_depth(kMaxJsonDepth - 3))));
  EXPECT_PARSE_ERROR(file_with_extra_depth(kMaxJsonDepth - 2), strict_options(),
                     Errc::InvalidHeaderDeserialization, "nested deeper than 127");
  // Far deeper input fails the same way, without exhausting the stack.
  EXPECT_PARSE_ERROR(file_with_extra_depth(200000), strict_options(),
                     Errc::InvalidHeaderDeserialization, "nested deeper");
  EXPECT_PARSE_ERROR(make_file(std::string(1000000, '[')), strict_options(),
                     Errc::InvalidHeaderDeserialization, "");
  EXPECT_PARSE_ERROR(make_file("{\"__metadata__\":" + nested(300) + "}"), strict_options(),
                     Errc::InvalidHeaderDeserialization, "");
}

TEST(JsonRules, TensorEntryAsArrayIsAcceptedLikeSerde) {
  const Header h = parse(make_file(R"({"w":["U8",[2],[0,2]]})", 2));
  ASSERT_EQ(h.tensors.size(), 1U);
  EXPECT_EQ(h.tensors[0].dtype, DType::U8);
  EXPECT_EQ(h.tensors[0].nbytes(), 2U);
  EXPECT_PARSE_ERROR(make_file(R"({"w":["U8",[2]]})", 2), strict_options(),
                     Errc::InvalidHeaderDeserialization, "3 elements, found 2");
  EXPECT_PARSE_ERROR(make_file(R"({"w":["U8",[2],[0,2],1]})", 2), strict_options(),
                     Errc::InvalidHeaderDeserialization, "3 elements");
  EXPECT_PARSE_ERROR(make_file(R"({"w":[[2],"U8",[0,2]]})", 2), strict_options(),
                     Errc::InvalidHeaderDeserialization, "dtype must be a string");
}

// serde reads a unit variant from {"F32": null} only: {"F32": {}} is "invalid type: map,
// expected unit" to the official loader (strict); lenient parses still accept it.
TEST(JsonRules, DtypeAsSingleKeyObjectIsAcceptedLikeSerde) {
  for (const char* dtype : {R"({"F32":null})", R"({"F32" : null })"}) {
    SCOPED_TRACE(dtype);
    const Header h = parse(make_file(
        R"({"w":{"dtype":)" + std::string(dtype) + R"(,"shape":[1],"data_offsets":[0,4]}})", 4));
    EXPECT_EQ(h.tensors.at(0).dtype, DType::F32);
  }
  for (const char* dtype : {R"({"F32":{}})", R"({"F32" : { }})"}) {
    SCOPED_TRACE(dtype);
    const std::string file = make_file(
        R"({"w":{"dtype":)" + std::string(dtype) + R"(,"shape":[1],"data_offsets":[0,4]}})", 4);
    EXPECT_PARSE_ERROR(file, strict_options(), Errc::InvalidHeaderDeserialization, "expected unit");
    EXPECT_EQ(parse(file, /*strict=*/false).tensors.at(0).dtype, DType::F32);
  }
  for (const char* dtype : {R"({})", R"({"F32":null,"U8":null})", R"({"F32":1})",
                            R"({"F32":{"a":1}})", R"({"F32":[]})", R"({"f32":null})", "[]"}) {
    SCOPED_TRACE(dtype);
    EXPECT_PARSE_ERROR(
        make_file(
            R"({"w":{"dtype":)" + std::string(dtype) + R"(,"shape":[1],"data_offsets":[0,4]}})", 4),
        strict_options(), Errc::InvalidHeaderDeserialization, "tensor 'w'");
  }
}

TEST(JsonRules, EveryDtypeNameIsRead) {
  for (DType d : kAllDTypes) {
    const std::string name(to_string(d));
    const std::uint64_t bytes = 8ULL * bit_size(d) / 8;  // 8 elements: whole bytes for all
    const Header h =
        parse(make_file(R"({"t":{"dtype":")" + name + R"(","shape":[8],"data_offsets":[0,)" +
                            std::to_string(bytes) + "]}}",
                        bytes));
    EXPECT_EQ(h.tensors.at(0).dtype, d) << name;
  }
}

TEST(JsonRules, Metadata) {
  EXPECT_EQ(parse(make_file(R"({"__metadata__":null})")).metadata, std::nullopt);
  EXPECT_EQ(parse(make_file(R"({"__metadata__":{}})")).metadata, Metadata{});
  // Duplicate keys: last wins. Escapes decoded.
  const Header h = parse(
      make_file(R"({"w":)" + kU8x2 + R"(,"__metadata__":{"a":"1","b\n":"\u00e9","a":"2"}})", 2));
  EXPECT_EQ(h.metadata, (Metadata{{"a", "2"}, {"b\n", "\xc3\xa9"}}));
  for (const char* bad :
       {R"({"k":null})", R"({"k":1})", R"({"k":["v"]})", R"({"k":{}})", R"("pt")", "1", "true"}) {
    SCOPED_TRACE(bad);
    EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":)" + std::string(bad) + "}"), strict_options(),
                       Errc::InvalidHeaderDeserialization, "__metadata__");
  }
}

TEST(StswRules, Crc32FieldIsRead) {
  const Header h =
      parse(make_file(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],"crc32":4294967295},)"
                      R"("v":{"crc32":0,"dtype":"U8","shape":[1],"data_offsets":[2,3]}})",
                      3));
  EXPECT_EQ(h.find("w")->crc32, 0xFFFFFFFFU);
  EXPECT_EQ(h.find("v")->crc32, 0U);
  EXPECT_TRUE(h.strict_valid);
  for (const char* bad : {"4294967296", "-1", "1.0", "1e2", "\"12\"", "null", "[1]"}) {
    SCOPED_TRACE(bad);
    for (const ParseOptions& options : {strict_options(), lenient_options()}) {
      EXPECT_PARSE_ERROR(make_file(R"({"w":{"dtype":"U8","shape":[2],"data_offsets":[0,2],)"
                                   R"("crc32":)" +
                                       std::string(bad) + "}}",
                                   2),
                         options, Errc::InvalidHeaderDeserialization, "tensor 'w': crc32");
    }
  }
  EXPECT_PARSE_ERROR(make_file(R"({"w":{"crc32":1,"dtype":"U8","shape":[2],"data_offsets":[0,2],)"
                               R"("crc32":1}})",
                               2),
                     strict_options(), Errc::InvalidHeaderDeserialization,
                     "duplicate field 'crc32'");
}

TEST(StswRules, DuplicateTensorNamesAreRefused) {
  for (const ParseOptions& options : {strict_options(), lenient_options()}) {
    // Even identical entries (the official loader would keep one silently).
    EXPECT_PARSE_ERROR(make_file(R"({"dup":)" + kU8x2 + R"(,"dup":)" + kU8x2 + "}", 2), options,
                       Errc::DuplicateName, "tensor 'dup'");
    EXPECT_PARSE_ERROR(make_file(R"({"dup":)" + kU8x2 + R"(,"\u0064up":)" +
                                     R"({"dtype":"U8","shape":[2],"data_offsets":[2,4]}})",
                                 4),
                       options, Errc::DuplicateName, "'dup'");
  }
  // JSON errors still come first.
  EXPECT_PARSE_ERROR(make_file(R"({"dup":)" + kU8x2 + R"(,"dup":)" + kU8x2 + R"(,"x":1})", 2),
                     strict_options(), Errc::InvalidHeaderDeserialization, "tensor 'x'");
}

// Strict: the official loader's kind (it reads the entry as the string map and fails);
// lenient: stsw's own InvalidName.
TEST(StswRules, TensorNamedMetadataIsRefused) {
  for (const auto& [options, code] :
       {std::pair{strict_options(), Errc::InvalidHeaderDeserialization},
        std::pair{lenient_options(), Errc::InvalidName}}) {
    EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":)" + kU8x2 + "}", 2), options, code,
                       "'__metadata__'");
    EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":{"format":"pt","shape":[1]}})"), options, code,
                       "'shape'");
  }
  // The rest of the JSON is still checked first.
  EXPECT_PARSE_ERROR(make_file(R"({"__metadata__":)" + kU8x2 + R"(,"x":[]})", 2), strict_options(),
                     Errc::InvalidHeaderDeserialization, "tensor 'x'");
}

TEST(StswRules, MessagesNameTheSource) {
  const std::string file = make_file("{\"w\":5}");
  try {
    static_cast<void>(parse_file(test::as_bytes(file), {.strict = true, .source = "/m/x.st"}));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("InvalidHeaderDeserialization: /m/x.st: ", 0), 0U)
        << e.what();
  }
}

TEST(ParseHeader, TakesTheHeaderBytesAndTheDataSize) {
  const std::string header = "{\"w\":" + kU8x2 + "}";
  const Header h = parse_header(header, 2);
  EXPECT_EQ(h.header_size, header.size());
  EXPECT_THROW(static_cast<void>(parse_header(header, 3)), Error);
  try {
    static_cast<void>(parse_header(std::string(kMaxHeaderSize + 1, ' '), 0));
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::HeaderTooLarge);
  }
}

}  // namespace
}  // namespace stsw
