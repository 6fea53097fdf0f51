# Script mode: install stsw into a scratch prefix, then build and run programs against it
# the ways a user would: find_package(stsw) (with stsw's private dependencies hidden from
# the consumer when the library is shared), find_package(stsw COMPONENTS asio), and
# pkg-config. Checks that the consumer compiles without any private dependency's
# headers, and that the package files name none of them for the shared variant.
#   -DSTSW_BUILD_DIR -DCONSUMER_SOURCE_DIR -DWORK_DIR -DGENERATOR -DCXX_COMPILER
#   -DSHARED=ON|OFF -DPKG_CONFIG=<pkg-config>
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

# Private dependencies: their CMake packages, and what their headers' paths contain.
set(private_packages Liburing ISAL spdlog fmt)
set(private_header_regex "/(spdlog|fmt|boost|isa-l)/|/liburing|/isa-l\\.h")

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} --install ${STSW_BUILD_DIR} --prefix ${prefix})
file(GLOB_RECURSE libs "${prefix}/lib*/libstsw.*")
message(STATUS "installed: ${libs}")

# 1. find_package(stsw), stsw::stsw only.
set(hide "")
if(SHARED)
  foreach(p IN LISTS private_packages ITEMS Boost)
    list(APPEND hide -DCMAKE_DISABLE_FIND_PACKAGE_${p}=ON)
  endforeach()
  # The package files must not mention the private dependencies at all.
  file(GLOB config_files "${prefix}/lib*/cmake/stsw/*.cmake")
  foreach(f IN LISTS config_files)
    file(READ "${f}" text)
    string(REGEX REPLACE "#[^\n]*" "" text "${text}")  # comments may explain them
    # A hint for the linker's -rpath-link, ignored when the consumer has no such targets
    # (as here: the consumer below is configured with those packages disabled).
    string(REGEX REPLACE "IMPORTED_LINK_DEPENDENT_LIBRARIES[^\n]*" "" text "${text}")
    if(text MATCHES "spdlog|Liburing|uring|ISAL|isal|Boost::json|boost_json")
      message(FATAL_ERROR "${f} names a private dependency (${CMAKE_MATCH_0}) of the shared library")
    endif()
  endforeach()
endif()
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} ${hide})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
message(STATUS "find_package consumer: ${run_out}")
if(SHARED)
  run(readelf -d ${WORK_DIR}/build/consumer)
  if(NOT run_out MATCHES "NEEDED[^\n]*libstsw\\.so\\.[0-9]+\\.[0-9]+\\]")
    message(FATAL_ERROR "consumer does not link libstsw.so.<major>.<minor>:\n${run_out}")
  endif()
endif()

# 2. find_package(stsw COMPONENTS asio): stsw::asio brings Boost's headers.
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build-asio -G ${GENERATOR}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DCONSUMER_ASIO=ON)
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build-asio)
run(${WORK_DIR}/build-asio/asio_consumer)
message(STATUS "asio consumer: ${run_out}")

# 3. find_package(stsw COMPONENTS cuda), where the build installed the CUDA component
# (STSW_CUDA found a toolkit): stsw::cuda and the CUDA runtime it links.
file(GLOB cuda_targets "${prefix}/lib*/cmake/stsw/stswCudaTargets.cmake")
if(cuda_targets)
  run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build-cuda -G ${GENERATOR}
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_PREFIX_PATH=${prefix} -DCONSUMER_CUDA=ON)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build-cuda)
  run(${WORK_DIR}/build-cuda/cuda_consumer)
  if(NOT run_out MATCHES "^ok ")
    message(FATAL_ERROR "cuda consumer: ${run_out}")
  endif()
  message(STATUS "cuda consumer: ${run_out}")
else()
  message(STATUS "cuda consumer: skipped (this build installed no CUDA component)")
endif()

# 4. pkg-config.
file(GLOB_RECURSE pc_file "${prefix}/*/stsw.pc")
get_filename_component(pc_dir "${pc_file}" DIRECTORY)
set(ENV{PKG_CONFIG_PATH} "${pc_dir}")
set(pc_args --cflags --libs stsw)
if(NOT SHARED)
  set(pc_args --static ${pc_args})
endif()
run(${PKG_CONFIG} ${pc_args})
string(STRIP "${run_out}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
message(STATUS "pkg-config ${pc_args}: ${pc_flags}")
run(${PKG_CONFIG} --modversion stsw)
string(STRIP "${run_out}" pc_version)
run(${CXX_COMPILER} -std=c++20 -M ${CONSUMER_SOURCE_DIR}/main.cpp ${pc_flags})
if(run_out MATCHES "${private_header_regex}")
  message(FATAL_ERROR "stsw's public headers pull in a private dependency's header "
    "(${CMAKE_MATCH_0}):\n${run_out}")
endif()
run(${CXX_COMPILER} -std=c++20 -o ${WORK_DIR}/pc_consumer ${CONSUMER_SOURCE_DIR}/main.cpp
    ${pc_flags})
get_filename_component(libdir "${pc_dir}" DIRECTORY)
set(ENV{LD_LIBRARY_PATH} "${libdir}")
run(${WORK_DIR}/pc_consumer)
if(NOT run_out MATCHES "ok ${pc_version}")
  message(FATAL_ERROR "pkg-config consumer: '${run_out}', stsw.pc says ${pc_version}")
endif()
message(STATUS "pkg-config consumer: ${run_out}")
