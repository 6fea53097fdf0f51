# Warnings and sanitizer flags shared by every stsw target.
function(stsw_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Werror=unused-result
    -Werror=return-type)
  if(STSW_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=address,undefined
      -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=address,undefined)
  endif()
endfunction()

# Sanitizers must reach the library too when a consumer target links it.
if(STSW_SANITIZE)
  add_compile_definitions(STSW_ASAN=1)
  add_link_options(-fsanitize=address,undefined)
endif()
