# include/stsw/version.hpp spells the version for C++ (STSW_VERSION_MAJOR/MINOR/PATCH);
# project(VERSION) spells it for CMake. The build stops when the two disagree.
function(stsw_check_version_header header)
  file(STRINGS "${header}" _lines REGEX "^#define STSW_VERSION_(MAJOR|MINOR|PATCH) ")
  foreach(part MAJOR MINOR PATCH)
    set(_value "")
    foreach(line IN LISTS _lines)
      if(line MATCHES "^#define STSW_VERSION_${part} ([0-9]+)")
        set(_value ${CMAKE_MATCH_1})
      endif()
    endforeach()
    if(NOT _value STREQUAL "${PROJECT_VERSION_${part}}")
      message(FATAL_ERROR "${header}: STSW_VERSION_${part} is '${_value}' but "
        "project(VERSION) says ${PROJECT_VERSION}; change both together")
    endif()
  endforeach()
endfunction()
