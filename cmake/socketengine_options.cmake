# Warnings and sanitizers, applied per target so that a parent project that
# adds socketengine with add_subdirectory keeps its own flags.

function(socketengine_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wconversion
                                           -Wno-sign-conversion)
  if(SOCKETENGINE_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

if(SOCKETENGINE_SANITIZE)
  list(JOIN SOCKETENGINE_SANITIZE "," _se_sanitizers)
  add_compile_options(-fsanitize=${_se_sanitizers} -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=${_se_sanitizers})
  if("thread" IN_LIST SOCKETENGINE_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Asio's fenced blocks use atomic_thread_fence, which GCC warns TSan does
    # not model; Asio's own locks around them keep TSan's view sound.
    add_compile_options(-Wno-tsan)
  endif()
endif()

if(SOCKETENGINE_FUZZ)
  # Coverage for libFuzzer in everything built, the library included; the
  # fuzz targets add -fsanitize=fuzzer for libFuzzer's main.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
