# Warnings and sanitizer flags shared by every stsw target.
#
# Sanitizer builds (one at a time):
#   STSW_SANITIZE=ON  AddressSanitizer + UndefinedBehaviorSanitizer (scripts/test-all)
#   STSW_TSAN=ON      ThreadSanitizer (scripts/tsan; run with STSW_IO_BACKEND=threads, since
#                     io_uring completions happen in the kernel, where TSan cannot see them)
option(STSW_TSAN "Build with ThreadSanitizer" OFF)
if(STSW_SANITIZE AND STSW_TSAN)
  message(FATAL_ERROR "STSW_SANITIZE (ASan+UBSan) and STSW_TSAN cannot be combined")
endif()

function(stsw_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror=unused-result
    -Werror=return-type)
  if(STSW_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined
      -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
  if(STSW_TSAN)
    target_compile_options(${target} PRIVATE -fsanitize=thread -fno-omit-frame-pointer)
    target_link_options(${target} PRIVATE -fsanitize=thread)
  endif()
endfunction()

# Sanitizers must reach the library too when a consumer target links it.
if(STSW_SANITIZE)
  add_compile_definitions(STSW_ASAN=1)
  add_link_options(-fsanitize=address,undefined)
endif()
if(STSW_TSAN)
  add_compile_definitions(STSW_TSAN=1)
  add_link_options(-fsanitize=thread)
endif()
