# Concurrency and load (issue 8): many readers, verifiers and writers on one engine, both
# backends; and the exhaustive fault-injection sweep of a small write and read. A hang
# fails with a message (tests/reliability/conc_watchdog.hpp), never by the CTest timeout.
# scripts/tsan runs these (and the engine, writer, reader and asio suites) under TSan.
stsw_add_test(NAME reliability_conc_tests
  SOURCES
    conc_reader_test.cpp
    conc_writer_test.cpp
    conc_asio_test.cpp
    conc_mixed_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/../reader/reader_test_support.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/../writer/writer_test_support.cpp
  LABELS reliability
  LIBS z
  TIMEOUT 300)

stsw_add_test(NAME reliability_fault_tests
  SOURCES
    fault_sweep_test.cpp
    ${CMAKE_CURRENT_SOURCE_DIR}/../writer/writer_test_support.cpp
  LABELS reliability
  LIBS z
  TIMEOUT 300)
