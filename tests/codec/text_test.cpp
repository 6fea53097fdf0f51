// The codec's text helpers: UTF-8 validation, JSON escaping, number literals.
#include <gtest/gtest.h>

#include <string>

#include "codec/json_number.hpp"
#include "codec/text.hpp"

namespace stsw::codec {
namespace {

using namespace std::string_literals;

TEST(Utf8, AcceptsWellFormedText) {
  EXPECT_EQ(find_invalid_utf8(""), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("plain ascii, long enough for the word loop"), std::nullopt);
  EXPECT_EQ(find_invalid_utf8("\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"),
            std::nullopt);
  EXPECT_EQ(find_invalid_utf8("\x7f\0x"s), std::nullopt);
}

// The sequence length the CLI's escaping (printable, utf8_safe) walks by: the same rules.
TEST(Utf8, SequenceLengths) {
  EXPECT_EQ(utf8_sequence_length("a", 0), 1U);
  EXPECT_EQ(utf8_sequence_length("\xc3\xa9", 0), 2U);
  EXPECT_EQ(utf8_sequence_length("x\xe2\x80\xa8", 1), 3U);
  EXPECT_EQ(utf8_sequence_length("\xf0\x9f\x98\x80", 0), 4U);
  EXPECT_EQ(utf8_sequence_length("\xc0\xaf", 0), 0U);      // overlong
  EXPECT_EQ(utf8_sequence_length("\xed\xa0\x80", 0), 0U);  // surrogate
  EXPECT_EQ(utf8_sequence_length("\xf4\x90\x80\x80", 0), 0U);
  EXPECT_EQ(utf8_sequence_length("\xe2\x80", 0), 0U);  // cut off
  EXPECT_EQ(utf8_sequence_length("\x80", 0), 0U);
}

TEST(Utf8, FindsTheFirstBadByte) {
  EXPECT_EQ(find_invalid_utf8("abc\xff"), 3U);
  EXPECT_EQ(find_invalid_utf8("0123456789\x80"), 10U);   // lone continuation
  EXPECT_EQ(find_invalid_utf8("\xc0\xaf"), 0U);          // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xc1\xbf"), 0U);          // overlong
  EXPECT_EQ(find_invalid_utf8("\xe0\x80\xaf"), 0U);      // overlong 3-byte
  EXPECT_EQ(find_invalid_utf8("\xf0\x80\x80\xaf"), 0U);  // overlong 4-byte
  EXPECT_EQ(find_invalid_utf8("ok\xed\xa0\x80"), 2U);    // encoded surrogate U+D800
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80"), 0U);  // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("\xf5\x80\x80\x80"), 0U);
  EXPECT_EQ(find_invalid_utf8("abcdefgh\xe2\x80"), 8U);                // truncated at the end
  EXPECT_EQ(find_invalid_utf8("\xe2\x28\xa1"), 0U);                    // bad continuation
  EXPECT_EQ(find_invalid_utf8("{}      \xef\xbb\xbf"), std::nullopt);  // a BOM is valid UTF-8
}

TEST(JsonEscape, FollowsTheOfficialSerializer) {
  std::string out;
  append_json_string(out, "a\"b\\c/d\b\f\n\r\t\x01\x1f\x7f\xc3\xa9\xe2\x80\xa8");
  EXPECT_EQ(out, R"("a\"b\\c/d\b\f\n\r\t\u0001\u001f)"
                 "\x7f\xc3\xa9\xe2\x80\xa8\"");
  out.clear();
  append_json_string(out, "\0"s);
  EXPECT_EQ(out, R"("\u0000")");
  out.clear();
  append_json_string(out, "");
  EXPECT_EQ(out, R"("")");
}

TEST(Quote, EscapesWhatATerminalWouldMangle) {
  EXPECT_EQ(quote("w1"), "'w1'");
  EXPECT_EQ(quote("a'b\\c\n\xff\xc3\xa9"), "'a\\x27b\\x5cc\\x0a\\xff\xc3\xa9'");
  EXPECT_EQ(quote(std::string(300, 'x'), 5), "'xxxxx'...");
}

TEST(JsonNumber, ExactU64) {
  EXPECT_EQ(parse_exact_u64("0"), 0U);
  EXPECT_EQ(parse_exact_u64("42"), 42U);
  EXPECT_EQ(parse_exact_u64("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_exact_u64("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("99999999999999999999999"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("-0"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("-1"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("2.0"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("1e3"), std::nullopt);
  EXPECT_EQ(parse_exact_u64("1E3"), std::nullopt);
  EXPECT_EQ(parse_exact_u64(""), std::nullopt);
}

TEST(JsonNumber, OverflowToInfinity) {
  EXPECT_FALSE(overflows_double("0"));
  EXPECT_FALSE(overflows_double("-0"));
  EXPECT_FALSE(overflows_double("1e308"));
  EXPECT_FALSE(overflows_double("-1.5e-400"));  // underflow is fine
  EXPECT_FALSE(overflows_double("0e999999"));
  EXPECT_FALSE(overflows_double("0.000e999999"));
  EXPECT_FALSE(overflows_double("123456789012345678901234567890"));
  EXPECT_FALSE(overflows_double("1.7976931348623157e308"));      // DBL_MAX
  EXPECT_FALSE(overflows_double("1.79769313486231580793e308"));  // rounds down to DBL_MAX
  EXPECT_TRUE(overflows_double("1.7976931348623159e308"));
  EXPECT_TRUE(overflows_double("-1.7976931348623159e308"));
  EXPECT_TRUE(overflows_double("1e309"));
  EXPECT_TRUE(overflows_double("1e400"));
  EXPECT_TRUE(overflows_double("10e308"));
  EXPECT_TRUE(overflows_double("0.01e311"));
  EXPECT_FALSE(overflows_double("0.01e310"));
  EXPECT_TRUE(overflows_double(std::string(400, '9')));
  EXPECT_FALSE(overflows_double("0." + std::string(400, '9')));
}

}  // namespace
}  // namespace stsw::codec
