# Data safety (issue 20): hostile destinations (devices, FIFOs, sockets), abort() during a
# pending close(), opening during an atomic replacement, long names, converting a file onto
# itself, leftover temporary files and `stsw clean`, errors naming the destination.
# Through the library and, when the tool is built, the real `stsw` binary.
set(_safety_sources
  safety_destination_test.cpp safety_close_abort_test.cpp safety_open_race_test.cpp
  safety_leftovers_test.cpp safety_convert_test.cpp safety_support.cpp)
if(TARGET stsw_cli)
  stsw_add_test(NAME reliability_safety_tests
    SOURCES ${_safety_sources} ../cli/cli_runner.cpp
    LIBS stsw_crash_support util
    LABELS reliability
    TIMEOUT 300)
  target_compile_definitions(reliability_safety_tests PRIVATE STSW_SAFETY_CLI=1)
  add_dependencies(reliability_safety_tests stsw_cli)
else()
  stsw_add_test(NAME reliability_safety_tests
    SOURCES ${_safety_sources}
    LIBS stsw_crash_support
    LABELS reliability
    TIMEOUT 300)
endif()
