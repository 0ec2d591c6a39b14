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

# The report plugin (tests/plugins/report_plugins.cc) ------------------------

# A right activation that is flat below 2: random cases drawn wholly below 2
# are drawn again, not failed, on every seed.
foreach(seed 1 2 3 4 5 6 7 8 9 10)
  execute_process(COMMAND ${ACTGRAD} gradcheck --plugin ${PLUGIN} --op gate_above_two
                          --seed ${seed} --second-order
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "a right activation, flat below 2, failed at seed ${seed} (${rc}):\n"
                        "${out}\n${err}")
  endif()
endforeach()

# A wrong second derivative: without --verbose, the worst second-order
# element with its case, x, and f''(x) by the row and by finite differences.
execute_process(COMMAND ${ACTGRAD} gradcheck --plugin ${PLUGIN} --op wrong_second --second-order
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(REGEX MATCH "worst second-order element: case .+, x=([-0-9.e]+): f''\\(x\\) = ([-0-9.e]+) by the row, ([-0-9.e]+) by finite differences of f'"
       line "${out}")
if(NOT rc EQUAL 1 OR NOT line)
  message(FATAL_ERROR "no worst second-order element under a wrong f'' (${rc}):\n${out}\n${err}")
endif()
set(x ${CMAKE_MATCH_1})
set(row ${CMAKE_MATCH_2})
set(numeric ${CMAKE_MATCH_3})
string(REGEX MATCH "worst second-order element: (case [^\n]+), x=" line "${out}")
set(where ${CMAKE_MATCH_1})
execute_process(COMMAND ${ACTGRAD} gradcheck --json --plugin ${PLUGIN} --op wrong_second
                        --second-order
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(JSON passed GET "${out}" ops 0 second_order passed)
string(JSON worst_case GET "${out}" ops 0 second_order worst case)
string(JSON worst_x GET "${out}" ops 0 second_order worst x)
string(JSON worst_analytic GET "${out}" ops 0 second_order worst analytic)
string(JSON worst_numeric GET "${out}" ops 0 second_order worst numeric)
string(JSON worst_row GET "${out}" ops 0 second_order worst derivative)
string(JSON worst_fd GET "${out}" ops 0 second_order worst numeric_derivative)
# The same element (seed 1 draws the same cases), printed to fewer digits.
string(SUBSTRING "${worst_x}" 0 5 worst_x)
string(SUBSTRING "${x}" 0 5 x5)
string(SUBSTRING "${worst_row}" 0 5 worst_row)
string(SUBSTRING "${row}" 0 5 row5)
string(SUBSTRING "${worst_fd}" 0 5 worst_fd)
string(SUBSTRING "${numeric}" 0 5 numeric5)
if(NOT rc EQUAL 1 OR NOT passed STREQUAL "OFF" OR NOT worst_case STREQUAL where
   OR NOT worst_x STREQUAL x5 OR NOT worst_row STREQUAL row5 OR NOT worst_fd STREQUAL numeric5
   OR worst_analytic STREQUAL worst_numeric)
  message(FATAL_ERROR "--json lacks the worst second-order element the text names "
                      "(x=${x}, ${row} by the row, ${numeric} by finite differences):\n${out}")
endif()

# A derivative that is NaN at x = 0 only: without --verbose, the element with
# its case, x = 0, NaN by the row and 0 by finite differences.
execute_process(COMMAND ${ACTGRAD} gradcheck --plugin ${PLUGIN} --op nan_derivative
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${out}" "worst element: fixed grid, x=0: f'(x) = nan by the row, 0 by finite differences"
       named)
string(FIND "${out}" "NaN from a finite input: derivative at x=0 is nan" finiteness)
if(NOT rc EQUAL 1 OR named EQUAL -1 OR finiteness EQUAL -1)
  message(FATAL_ERROR "a NaN derivative at x=0 was not named (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} gradcheck --json --plugin ${PLUGIN} --op nan_derivative
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(JSON worst_case GET "${out}" ops 0 worst case)
string(JSON worst_x GET "${out}" ops 0 worst x)
string(JSON worst_analytic GET "${out}" ops 0 worst analytic)
string(JSON worst_row GET "${out}" ops 0 worst derivative)
string(JSON worst_fd GET "${out}" ops 0 worst numeric_derivative)
if(NOT rc EQUAL 1 OR NOT worst_case STREQUAL "fixed grid" OR NOT worst_x EQUAL 0
   OR NOT worst_analytic STREQUAL "nan" OR NOT worst_row STREQUAL "nan" OR NOT worst_fd EQUAL 0)
  message(FATAL_ERROR "--json lacks the NaN derivative's element:\n${out}")
endif()
# The finiteness problem: x, value, why, and what finite differences expect.
string(JSON problems LENGTH "${out}" ops 0 finiteness problems)
set(found OFF)
math(EXPR last "${problems} - 1")
foreach(i RANGE ${last})
  string(JSON why GET "${out}" ops 0 finiteness problems ${i} why)
  string(JSON px GET "${out}" ops 0 finiteness problems ${i} x)
  string(JSON value GET "${out}" ops 0 finiteness problems ${i} value)
  string(JSON expected GET "${out}" ops 0 finiteness problems ${i} expected)
  if(why STREQUAL "NaN from a finite input" AND px STREQUAL "0" AND value STREQUAL "nan"
     AND expected EQUAL 0)
    set(found ON)
  endif()
endforeach()
if(NOT found)
  message(FATAL_ERROR "--json lacks the NaN at x=0 with its expected value:\n${out}")
endif()

# A derivative right only at the default attribute (bad_plugins.cc,
# ATTRIBUTE_BUG: y = p x with dy/dx = 1, default p = 1, range [0.5, 2]) is
# caught by the default run — no --op, no --sweep — with the random cases
# at each end of the range, and named by its worst element there.
execute_process(COMMAND ${ACTGRAD} gradcheck --plugin ${ATTRIBUTE_BUG_PLUGIN}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
foreach(expected "FAIL  scaled_identity" "also at p=0.5 FAILED, p=1, p=1.5 FAILED, p=2 FAILED"
                 "at p=0.5: first derivative, case [6]: 6 of 6 elements outside tolerance"
                 "at p=2: first derivative, case [6]: 6 of 6 elements outside tolerance"
                 "at p=0.5: worst element: " "by the row, 0.5 by finite differences"
                 "at p=2: worst element: " "by the row, 2 by finite differences")
  string(FIND "${out}" "${expected}" found)
  if(NOT rc EQUAL 1 OR found EQUAL -1)
    message(FATAL_ERROR "the default run did not report \"${expected}\" (${rc}):\n${out}\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${ACTGRAD} gradcheck --json --plugin ${ATTRIBUTE_BUG_PLUGIN}
                        --op scaled_identity
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(JSON attrs GET "${out}" ops 0 attribute_checks 3 attrs)
string(JSON passed GET "${out}" ops 0 attribute_checks 3 passed)
string(JSON row GET "${out}" ops 0 attribute_checks 3 worst derivative)
string(JSON numeric GET "${out}" ops 0 attribute_checks 3 worst numeric_derivative)
string(JSON failures LENGTH "${out}" ops 0 attribute_checks 3 failures)
if(NOT rc EQUAL 1 OR NOT attrs STREQUAL "p=2" OR NOT passed STREQUAL "OFF" OR NOT row EQUAL 1
   OR failures EQUAL 0 OR numeric LESS 1.999 OR numeric GREATER 2.001)
  message(FATAL_ERROR "--json lacks the failing attribute check's worst element:\n${out}")
endif()
