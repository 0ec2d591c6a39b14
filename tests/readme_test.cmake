# Every example the README quotes appears in it exactly as the compiled file
# has it, from `#include "actgrad.h"` to the end, so the README compiles as
# written.
file(READ ${README} readme)
foreach(example IN LISTS EXAMPLES)
  file(READ ${example} source)
  string(FIND "${source}" "#include" start)
  string(SUBSTRING "${source}" ${start} -1 quoted)
  string(FIND "${readme}" "${quoted}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "README.md does not quote ${example} as it is")
  endif()
endforeach()
