# Build switches shared by every preset (see CMakePresets.json).
option(HASHWATT_WERROR "Treat compiler warnings as errors (on in CI and make test)" OFF)
option(HASHWATT_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(HASHWATT_BUILD_TESTS "Build the doctest suites" ON)

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
