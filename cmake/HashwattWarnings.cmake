# hashwatt_set_warnings(target): the project's warning set, applied to our own targets only
# (never to imported ones, whose headers come in as system headers).
function(hashwatt_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wsign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                           -Woverloaded-virtual)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12 reports Asio's coroutine frame allocator as a mismatched new/delete pair (a false
    # positive, GCC bug 109224); the frames are allocated and freed by the same class.
    target_compile_options(${target} PRIVATE -Wno-mismatched-new-delete)
  endif()
  if(HASHWATT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
