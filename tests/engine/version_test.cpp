// The version the headers announce, the one the library reports and the one CMake's
// project() carries (STSW_PROJECT_VERSION, from tests/engine/CMakeLists.txt) agree.
#include <gtest/gtest.h>

#include <string>

#include "stsw/version.hpp"

namespace {

TEST(Version, LibraryHeadersAndProjectAgree) {
  EXPECT_EQ(stsw::version(), STSW_VERSION_STRING);
  EXPECT_EQ(stsw::version(), STSW_PROJECT_VERSION);
  const std::string parts = std::to_string(STSW_VERSION_MAJOR) + "." +
                            std::to_string(STSW_VERSION_MINOR) + "." +
                            std::to_string(STSW_VERSION_PATCH);
  EXPECT_EQ(parts, STSW_VERSION_STRING);
  EXPECT_EQ(STSW_VERSION,
            STSW_VERSION_MAJOR * 10000 + STSW_VERSION_MINOR * 100 + STSW_VERSION_PATCH);
}

}  // namespace
