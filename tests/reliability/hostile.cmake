# Hostile input (issue 8): the generated corpus through StreamReader and, when the tool is
# built, through `stsw inspect` / `stsw verify` as real processes.
set(_hostile_sources
  hostile_test.cpp hostile_run.cpp hostile_corpus.cpp hostile_corpus_huge.cpp hostile_index.cpp)
if(TARGET stsw_cli)
  stsw_add_test(NAME reliability_hostile_test
    SOURCES ${_hostile_sources} hostile_cli.cpp ../cli/cli_runner.cpp
    LABELS reliability
    LIBS util
    TIMEOUT 300)
  target_compile_definitions(reliability_hostile_test PRIVATE STSW_HOSTILE_CLI=1)
  add_dependencies(reliability_hostile_test stsw_cli)
else()
  stsw_add_test(NAME reliability_hostile_test
    SOURCES ${_hostile_sources}
    LABELS reliability
    TIMEOUT 300)
endif()
