// Test helper: the parameter-name generator of test suites parameterised by BackendKind.
#pragma once

#include <string>

#include "stsw/engine.hpp"

namespace stsw::test {

// INSTANTIATE_TEST_SUITE_P(Io, Suite, ::testing::Values(BackendKind::Uring,
//                          BackendKind::Threads), test::BackendName());
// names the instances ".../uring" and ".../threads".
struct BackendName {
  template <typename Info>
  std::string operator()(const Info& info) const {
    return info.param == BackendKind::Uring ? "uring" : "threads";
  }
};

}  // namespace stsw::test
