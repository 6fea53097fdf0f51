// The stsw version: compile-time macros (the headers a program was built against) and
// stsw::version() (the library it runs with; they differ when a shared library is
// replaced). CMake checks that these macros match project(VERSION).
#pragma once

#include "stsw/export.hpp"

#include <string_view>

#define STSW_VERSION_MAJOR 0
#define STSW_VERSION_MINOR 1
#define STSW_VERSION_PATCH 0
#define STSW_VERSION_STRING "0.1.0"
// One number for #if: major * 10000 + minor * 100 + patch.
#define STSW_VERSION (STSW_VERSION_MAJOR * 10000 + STSW_VERSION_MINOR * 100 + STSW_VERSION_PATCH)

namespace STSW_API stsw {

// The library's version, "major.minor.patch" (STSW_VERSION_STRING when it was built).
// The view refers to static storage. Thread-safe.
[[nodiscard]] std::string_view version() noexcept;

}  // namespace stsw
