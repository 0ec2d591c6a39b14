# What the command-line tests share: run() runs `${ACTGRAD} ARGS...`, fails
# the test on a non-zero exit and leaves stdout in `out`;
# require_substring() fails it when `text` lacks `what`. Include with
# include(${CMAKE_CURRENT_LIST_DIR}/cli_helpers.cmake).

function(run)
  execute_process(COMMAND ${ACTGRAD} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "actgrad ${ARGN}: exit ${rc}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

function(require_substring text what where)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${where} lacks \"${what}\":\n${text}")
  endif()
endfunction()
