// Unit tests of the writer's input checks (engine/writer/validate.hpp).
#include "writer/validate.hpp"

#include <gtest/gtest.h>

#include "stsw/error.hpp"
#include "support/tensor_meta.hpp"

namespace stsw::writer {
namespace {

using test::meta;

Errc code_of(const std::vector<TensorMeta>& metas) {
  try {
    validate_metas(metas, "out.safetensors");
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("out.safetensors"), std::string::npos) << e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error";
  return Errc::Io;
}

TEST(WriterValidate, AcceptsContiguousTensorsIncludingEmptyAndScalar) {
  EXPECT_NO_THROW(validate_metas({}, "x"));
  EXPECT_NO_THROW(
      validate_metas({meta("a", DType::F32, {2, 3}, 0, 24), meta("z", DType::U8, {0}, 24, 24),
                      meta("s", DType::F64, {}, 24, 32), meta("", DType::F4, {4}, 32, 34)},
                     "x"));
}

TEST(WriterValidate, RejectsReservedAndInvalidNames) {
  EXPECT_EQ(code_of({meta("__metadata__", DType::U8, {1}, 0, 1)}), Errc::InvalidName);
  EXPECT_EQ(code_of({meta(std::string("a\xff"), DType::U8, {1}, 0, 1)}), Errc::InvalidName);
  EXPECT_EQ(code_of({meta("\xed\xa0\x80", DType::U8, {1}, 0, 1)}), Errc::InvalidName);
}

TEST(WriterValidate, RejectsDuplicates) {
  EXPECT_EQ(code_of({meta("a", DType::U8, {1}, 0, 1), meta("a", DType::U8, {1}, 1, 2)}),
            Errc::DuplicateName);
}

TEST(WriterValidate, RejectsImpossibleShapes) {
  const std::uint64_t big = std::uint64_t{1} << 32;
  EXPECT_EQ(code_of({meta("a", DType::U8, {big, big, 0}, 0, 0)}), Errc::ValidationOverflow);
  EXPECT_EQ(code_of({meta("a", DType::F64, {std::uint64_t{1} << 62}, 0, 0)}),
            Errc::ValidationOverflow);
  EXPECT_EQ(code_of({meta("a", DType::F4, {3}, 0, 1)}), Errc::MisalignedSlice);
  EXPECT_EQ(code_of({meta("a", DType::F6_E2M3, {2}, 0, 1)}), Errc::MisalignedSlice);
}

TEST(WriterValidate, RejectsSizeMismatch) {
  EXPECT_EQ(code_of({meta("a", DType::F32, {2}, 0, 4)}), Errc::TensorInvalidInfo);
  EXPECT_EQ(code_of({meta("a", DType::F32, {}, 0, 8)}), Errc::TensorInvalidInfo);
}

TEST(WriterValidate, RejectsHolesOverlapsAndReversedOffsets) {
  EXPECT_EQ(code_of({meta("a", DType::U8, {1}, 1, 2)}), Errc::InvalidOffset);  // hole at 0
  EXPECT_EQ(code_of({meta("a", DType::U8, {2}, 0, 2), meta("b", DType::U8, {2}, 3, 5)}),
            Errc::InvalidOffset);
  EXPECT_EQ(code_of({meta("a", DType::U8, {2}, 0, 2), meta("b", DType::U8, {2}, 1, 3)}),
            Errc::InvalidOffset);
  EXPECT_EQ(code_of({meta("a", DType::U8, {0}, 5, 2)}), Errc::InvalidOffset);
  // Listed out of file order: contiguity is checked in the order given.
  EXPECT_EQ(code_of({meta("b", DType::U8, {2}, 2, 4), meta("a", DType::U8, {2}, 0, 2)}),
            Errc::InvalidOffset);
}

TEST(WriterValidate, MessagesNameTheTensor) {
  try {
    validate_metas({meta("w1", DType::F32, {2}, 0, 4)}, "m.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("'w1'"), std::string::npos) << e.what();
    EXPECT_NE(e.message().find("8"), std::string::npos) << e.what();
  }
}

TEST(WriterValidate, Options) {
  WriterOptions o;
  EXPECT_NO_THROW(validate_options(o));
  for (std::uint64_t a : {0ULL, 1ULL, 4ULL, 12ULL, 65ULL}) {
    o.align = a;
    EXPECT_THROW(validate_options(o), Error) << a;
  }
  o.align = 4096;
  EXPECT_NO_THROW(validate_options(o));
  o.chunk_size = 1000;
  try {
    validate_options(o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::InvalidArgument);
  }
  o.chunk_size = 8192;
  o.metadata = Metadata{{"k", std::string("\xc0\x80")}};
  EXPECT_THROW(validate_options(o), Error);
}

TEST(WriterValidate, Utf8) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("caf\xc3\xa9 \xf0\x9f\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xc3"));
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));
}

}  // namespace
}  // namespace stsw::writer
