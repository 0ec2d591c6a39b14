# Runs `actgrad gradcheck --json` for two ops and checks the JSON it prints.
execute_process(COMMAND ${ACTGRAD} gradcheck --json --op sigmoid --op matmul
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit status ${rc}:\n${out}")
endif()
string(JSON count LENGTH "${out}" ops)
if(NOT count EQUAL 2)
  message(FATAL_ERROR "expected 2 ops, got ${count}:\n${out}")
endif()
foreach(i 0 1)
  string(JSON name GET "${out}" ops ${i} name)
  string(JSON passed GET "${out}" ops ${i} passed)
  string(JSON rel GET "${out}" ops ${i} max_rel_error)
  if(NOT passed STREQUAL "ON" AND NOT passed STREQUAL "true")
    message(FATAL_ERROR "${name} did not pass:\n${out}")
  endif()
  if(rel GREATER 1e-3)
    message(FATAL_ERROR "${name}: max_rel_error ${rel} is implausibly large")
  endif()
endforeach()
string(JSON first GET "${out}" ops 0 name)
if(NOT first STREQUAL "sigmoid")
  message(FATAL_ERROR "ops out of order:\n${out}")
endif()

# --op NAME:attr=value checks the grid, float32 and the figures at those
# attributes, and names them.
execute_process(COMMAND ${ACTGRAD} gradcheck --op leaky_relu:alpha=0.3 --report
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${out}" "f'(0)               0.3 " slope)
string(FIND "${out}" "PASS  leaky_relu:alpha=0.3" named)
if(NOT rc EQUAL 0 OR slope EQUAL -1 OR named EQUAL -1)
  message(FATAL_ERROR "gradcheck at alpha=0.3 (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} gradcheck --op leaky_relu:beta=2
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "--op leaky_relu:beta=2: attribute \"beta=2\" does not fit leaky_relu" refused)
if(NOT rc EQUAL 2 OR refused EQUAL -1)
  message(FATAL_ERROR "an attribute the op lacks was not refused (${rc}):\n${err}")
endif()

# --sweep adds values of an attribute; a malformed one is refused.
execute_process(COMMAND ${ACTGRAD} gradcheck --op elu --sweep alpha=0.1:3:3
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${out}" "also at alpha=0.1, alpha=1.55, alpha=3," swept)
if(NOT rc EQUAL 0 OR swept EQUAL -1)
  message(FATAL_ERROR "--sweep did not check alpha 0.1, 1.55 and 3 (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} gradcheck --op elu --sweep alpha=x
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "--sweep alpha=x: expected ATTR=LOW:HIGH[:N]" refused)
if(NOT rc EQUAL 2 OR refused EQUAL -1)
  message(FATAL_ERROR "a malformed --sweep was not refused (${rc}):\n${err}")
endif()
