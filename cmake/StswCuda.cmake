# STSW_CUDA: the optional CUDA component (stsw/cuda.hpp, target stsw::cuda, library
# stsw_cuda; engine/cuda/). AUTO builds it when find_package(CUDAToolkit) finds a toolkit
# (the runtime library and headers; no nvcc or GPU is needed to build), ON requires one,
# OFF skips it. The core library never includes CUDA headers: engine/cuda/ is kept out
# of its sources.
#
# Sets STSW_HAVE_CUDA (TRUE when stsw_cuda is built). The device pipeline itself
# (stsw_device_pipeline, CUDA-free) is built whenever tests or the CUDA component need it.
set(STSW_CUDA AUTO CACHE STRING
  "Build the CUDA component stsw::cuda (AUTO: when the CUDA toolkit is found; ON; OFF)")
set_property(CACHE STSW_CUDA PROPERTY STRINGS AUTO ON OFF)

set(STSW_HAVE_CUDA FALSE)
if(NOT STSW_CUDA STREQUAL "OFF")
  if(STSW_CUDA STREQUAL "ON")
    find_package(CUDAToolkit REQUIRED)
  else()
    find_package(CUDAToolkit QUIET)
  endif()
  if(CUDAToolkit_FOUND AND TARGET CUDA::cudart)
    set(STSW_HAVE_CUDA TRUE)
    message(STATUS "stsw CUDA component: on (CUDA toolkit ${CUDAToolkit_VERSION} at ${CUDAToolkit_LIBRARY_DIR})")
  elseif(STSW_CUDA STREQUAL "ON")
    message(FATAL_ERROR "STSW_CUDA=ON but the CUDA runtime (CUDA::cudart) was not found")
  else()
    message(STATUS "stsw CUDA component: off (no CUDA toolkit found; STSW_CUDA=ON requires one)")
  endif()
else()
  message(STATUS "stsw CUDA component: off (STSW_CUDA=OFF)")
endif()

set(_stsw_dev "${CMAKE_CURRENT_SOURCE_DIR}/engine/cuda")
if(STSW_HAVE_CUDA OR STSW_BUILD_TESTS)
  add_library(stsw_device_pipeline OBJECT
    ${_stsw_dev}/device_read.cpp ${_stsw_dev}/device_write.cpp ${_stsw_dev}/staging.cpp)
  target_include_directories(stsw_device_pipeline PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/engine)
  target_link_libraries(stsw_device_pipeline PUBLIC stsw::stsw)
  set_target_properties(stsw_device_pipeline PROPERTIES POSITION_INDEPENDENT_CODE ON)
  stsw_target_options(stsw_device_pipeline)
endif()

# The CUDA runtime is linked statically by default (libcudart_static.a, CMake's
# CUDA::cudart_static): the library, the Python extension and the tests then need only
# the driver (libcuda.so, loaded at run time) and no libcudart.so of a matching version
# on the loader's path; a torch process with its own libcudart shares the driver's
# primary context, streams and device pointers with it.
option(STSW_CUDA_STATIC_RUNTIME "Link the CUDA runtime statically into stsw_cuda" ON)
if(STSW_HAVE_CUDA)
  if(STSW_CUDA_STATIC_RUNTIME AND TARGET CUDA::cudart_static)
    set(STSW_CUDART CUDA::cudart_static)
  else()
    set(STSW_CUDART CUDA::cudart)
  endif()
  add_library(stsw_cuda STATIC $<TARGET_OBJECTS:stsw_device_pipeline>
    ${_stsw_dev}/cuda_copier.cpp ${_stsw_dev}/cuda_api.cpp)
  target_include_directories(stsw_cuda PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/engine)
  # The installed stsw_cuda links the installed library (static or shared: STSW_SHARED).
  target_link_libraries(stsw_cuda
    PUBLIC $<BUILD_INTERFACE:stsw> $<INSTALL_INTERFACE:${STSW_INSTALLED_LIBRARY}>
    PRIVATE ${STSW_CUDART})
  set_target_properties(stsw_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON EXPORT_NAME cuda)
  stsw_target_options(stsw_cuda)
  add_library(stsw::cuda ALIAS stsw_cuda)
endif()
