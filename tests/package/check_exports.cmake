# Script mode: libstsw.so (-DLIBRARY) exports only the public API: every defined dynamic
# symbol names something in namespace stsw (functions, typeinfo, vtables; standard
# templates instantiated for stsw types count as stsw's, e.g. std::vector<stsw::...>),
# apart from the linker's own markers. A private dependency's symbol (spdlog, fmt,
# boost::json, io_uring_*, isal's crc) or internal helpers outside stsw would show here.
execute_process(COMMAND nm -DC --defined-only ${LIBRARY}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "nm failed: ${err}")
endif()
string(REPLACE "\n" ";" lines "${out}")
set(bad "")
set(count 0)
foreach(line IN LISTS lines)
  if(line STREQUAL "")
    continue()
  endif()
  string(REGEX REPLACE "^[0-9a-f]* *[A-Za-z] " "" name "${line}")
  if(name MATCHES "stsw::" OR name MATCHES "^(_init|_fini|__bss_start|_edata|_end)$")
    math(EXPR count "${count} + 1")
    continue()
  endif()
  string(APPEND bad "  ${line}\n")
endforeach()
if(NOT bad STREQUAL "")
  message(FATAL_ERROR "${LIBRARY} exports symbols outside stsw::\n${bad}")
endif()
if(count EQUAL 0)
  message(FATAL_ERROR "${LIBRARY} exports nothing: is the public API marked STSW_API?")
endif()
message(STATUS "${LIBRARY}: ${count} exported symbols, all stsw's")
