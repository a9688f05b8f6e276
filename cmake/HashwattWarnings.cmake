# hashwatt_set_warnings(target): the project's warning set, applied to our own targets only
# (never to imported ones, whose headers come in as system headers).
function(hashwatt_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                           -Wsign-conversion -Wnon-virtual-dtor -Wold-style-cast
                                           -Woverloaded-virtual)
  if(HASHWATT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
