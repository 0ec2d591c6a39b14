# Runs `actgrad gradcheck --json` on the example plugin's sin_plus and checks
# the conformance report's keys: the core issue's, and the new figures.
execute_process(COMMAND ${ACTGRAD} gradcheck --json --plugin ${PLUGIN} --op sin_plus
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "exit status ${rc}:\n${out}\n${err}")
endif()

function(expect_equal what actual expected)
  if(NOT "${actual}" STREQUAL "${expected}")
    message(FATAL_ERROR "${what}: expected ${expected}, got ${actual}:\n${out}")
  endif()
endfunction()
function(expect_between what actual low high)
  if(actual LESS low OR actual GREATER high)
    message(FATAL_ERROR "${what} = ${actual}, outside [${low}, ${high}]:\n${out}")
  endif()
endfunction()

string(JSON count LENGTH "${out}" ops)
expect_equal("number of ops" ${count} 1)
string(JSON name GET "${out}" ops 0 name)
expect_equal("name" ${name} sin_plus)
string(JSON passed GET "${out}" ops 0 passed)
expect_equal("passed" ${passed} ON)

# The core issue's keys.
foreach(key cases elements max_abs_error max_rel_error)
  string(JSON value GET "${out}" ops 0 ${key})
endforeach()
string(JSON rel GET "${out}" ops 0 max_rel_error)
expect_between("max_rel_error" ${rel} 0 1e-6)

# First derivative: the fixed grid, the Taylor order, nothing failed.
string(JSON kind GET "${out}" ops 0 kind)
expect_equal("kind" ${kind} activation)
string(JSON failures LENGTH "${out}" ops 0 failures)
expect_equal("failures" ${failures} 0)
string(JSON grid_checked GET "${out}" ops 0 grid checked)
expect_equal("grid points checked" ${grid_checked} 15)
string(JSON order GET "${out}" ops 0 taylor_order)
expect_between("taylor_order" ${order} 1.8 2.2)
string(JSON second GET "${out}" ops 0 second_order)
expect_equal("second_order without --second-order" "${second}" "")

# float32 against float64.
string(JSON f32 GET "${out}" ops 0 float32 forward_max_rel_error)
expect_between("float32 forward error" ${f32} 0 1e-5)
string(JSON f32d GET "${out}" ops 0 float32 derivative_max_rel_error)
expect_between("float32 derivative error" ${f32d} 0 1e-3)

# Extreme inputs: sin(inf) is NaN, so +-inf give warnings, not failures.
string(JSON fin GET "${out}" ops 0 finiteness passed)
expect_equal("finiteness passed" ${fin} ON)
string(JSON problems LENGTH "${out}" ops 0 finiteness problems)
if(problems EQUAL 0)
  message(FATAL_ERROR "expected warnings at +-inf:\n${out}")
endif()
string(JSON fatal GET "${out}" ops 0 finiteness problems 0 fatal)
expect_equal("a warning is not fatal" ${fatal} OFF)

# The designer's figures: x + sin(x)^2 rises, f'(0) = 1, not zero-centred,
# saturated (|f'| < 0.01) near z = -pi/4, no gain of its own.
string(JSON monotonicity GET "${out}" ops 0 activation monotonicity)
expect_equal("monotonicity" ${monotonicity} non-decreasing)
string(JSON d0 GET "${out}" ops 0 activation derivative_at_zero)
expect_between("derivative_at_zero" ${d0} 1 1)
string(JSON low GET "${out}" ops 0 activation range 0)
string(JSON high GET "${out}" ops 0 activation range 1)
expect_between("range minimum" ${low} -100 -99)
expect_between("range maximum" ${high} 100 101)
string(JSON mean GET "${out}" ops 0 activation normal_mean)
expect_between("mean for N(0, 1) input" ${mean} 0.4 0.5)
string(JSON centred GET "${out}" ops 0 activation zero_centred)
expect_equal("zero_centred" ${centred} OFF)
string(JSON saturated GET "${out}" ops 0 activation saturated_fraction)
expect_between("saturated_fraction" ${saturated} 0.03 0.06)
string(JSON gain GET "${out}" ops 0 activation estimated_gain)
expect_between("estimated_gain" ${gain} 0.5 2)
string(JSON row_gain GET "${out}" ops 0 activation row_gain)
expect_equal("row_gain" "${row_gain}" "")
