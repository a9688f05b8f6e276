# Build switches shared by every preset (see CMakePresets.json).
option(HASHWATT_WERROR "Treat compiler warnings as errors (on in CI and make test)" OFF)
option(HASHWATT_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(HASHWATT_BUILD_TESTS "Build the doctest suites" ON)
option(HASHWATT_FUZZ "libFuzzer build (clang only): instrumented libraries and fuzz/ targets only" OFF)

# ccache makes the second build of an unchanged tree (and the ASan twin of every
# preset) mostly free; it is optional.
find_program(HASHWATT_CCACHE ccache)
if(HASHWATT_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${HASHWATT_CCACHE})
endif()

if(HASHWATT_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# The fuzz tree (preset fuzz, fuzz/README.md): every library is instrumented for coverage and
# checked by ASan+UBSan; only the fuzz executables get libFuzzer's main (fuzz/CMakeLists.txt).
if(HASHWATT_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "HASHWATT_FUZZ needs clang (cmake --preset fuzz uses clang++-14)")
  endif()
  # -fno-sanitize=function: clang 14 cannot emit its checks for C++20 coroutines ("Cannot
  # represent a difference across sections"); the other UBSan checks stay.
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=function
                      -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
