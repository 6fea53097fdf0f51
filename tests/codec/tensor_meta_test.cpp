// stsw/tensor_meta.hpp: the shape text every message and `stsw inspect` print.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

#include "stsw/tensor_meta.hpp"

namespace {

TEST(ShapeString, RankZeroIsEmptyBrackets) { EXPECT_EQ(stsw::shape_string({}), "[]"); }

TEST(ShapeString, CommaSeparatedDecimalDimensions) {
  EXPECT_EQ(stsw::shape_string({7}), "[7]");
  EXPECT_EQ(stsw::shape_string({2, 0, 3}), "[2, 0, 3]");
  EXPECT_EQ(stsw::shape_string({std::numeric_limits<std::uint64_t>::max(), 1}),
            "[18446744073709551615, 1]");
}

}  // namespace
