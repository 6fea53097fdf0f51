// stsw/aligned_buffer.hpp: the one aligned-buffer type.
#include "stsw/aligned_buffer.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <utility>

#include "stsw/error.hpp"

namespace stsw {
namespace {

bool aligned_to(const void* p, std::size_t a) {
  return reinterpret_cast<std::uintptr_t>(p) % a == 0;
}

TEST(AlignedBuffer, AlignedZeroedAndWritable) {
  for (std::size_t align : {std::size_t{4096}, std::size_t{65536}, std::size_t{2} << 20}) {
    AlignedBuffer b(100'001, align, /*huge_pages=*/align > 65536);
    ASSERT_EQ(b.size(), 100'001U);
    EXPECT_TRUE(aligned_to(b.data(), align)) << align;
    for (std::byte x : b.span()) ASSERT_EQ(x, std::byte{0});
    b.span().back() = std::byte{7};
    EXPECT_EQ(b.data()[100'000], std::byte{7});
  }
}

TEST(AlignedBuffer, EmptyAndMoved) {
  AlignedBuffer empty(0);
  EXPECT_TRUE(empty.empty());
  EXPECT_EQ(empty.data(), nullptr);
  AlignedBuffer a(4096);
  std::byte* p = a.data();
  AlignedBuffer b(std::move(a));
  EXPECT_EQ(b.data(), p);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the moved-from state is empty
  AlignedBuffer c(8192);
  c = std::move(b);
  EXPECT_EQ(c.data(), p);
  EXPECT_EQ(c.size(), 4096U);
}

TEST(AlignedBuffer, RefusesAlignmentsThatAreNotPowersOfTwo) {
  for (std::size_t align : {std::size_t{0}, std::size_t{3}, std::size_t{4097}}) {
    try {
      AlignedBuffer b(4096, align);
      ADD_FAILURE() << align;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), Errc::InvalidArgument);
    }
  }
}

TEST(AlignedBuffer, ImpossibleSizeIsAnError) {
  EXPECT_THROW(AlignedBuffer(SIZE_MAX - 100, 2 << 20), Error);
}

}  // namespace
}  // namespace stsw
