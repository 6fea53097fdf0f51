# Crash consistency (SIGKILL at timed moments, inside close() and at every file-system call),
# security of paths, real full file systems (tmpfs / loop ext4, root only).
add_library(stsw_crash_support STATIC crash_support.cpp crash_writers.cpp)
target_link_libraries(stsw_crash_support PUBLIC stsw::stsw)
target_include_directories(stsw_crash_support PRIVATE ${PROJECT_SOURCE_DIR}/engine
  ${CMAKE_CURRENT_SOURCE_DIR}/..)
stsw_target_options(stsw_crash_support)

stsw_add_test(NAME reliability_crash_tests
  SOURCES crash_test.cpp
  LIBS stsw_crash_support
  LABELS reliability
  TIMEOUT 300)

# The soak variant: ten times the kill points (STSW_CRASH_POINTS still overrides).
# One label only: stsw_add_test passes LABELS through gtest_discover_tests, which splits a
# list ("reliability;slow" would become LABELS reliability, and "slow" a property name).
stsw_add_test(NAME reliability_crash_soak_tests
  SOURCES crash_test.cpp
  LIBS stsw_crash_support
  LABELS slow
  TIMEOUT 1800)
target_compile_definitions(reliability_crash_soak_tests PRIVATE STSW_CRASH_DEFAULT_POINTS=2000
  STSW_CRASH_SUITE=CrashSoak)

stsw_add_test(NAME reliability_paths_tests
  SOURCES paths_test.cpp
  LIBS stsw_crash_support
  LABELS reliability
  TIMEOUT 120)

# Mounts tmpfs / loop ext4 / loop ext2 file systems (root only; skipped otherwise).
stsw_add_test(NAME reliability_enospc_tests
  SOURCES enospc_test.cpp
  LIBS stsw_crash_support
  LABELS reliability
  TIMEOUT 120)
