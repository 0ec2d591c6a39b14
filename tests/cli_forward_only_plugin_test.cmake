# An activation that a plugin gives by its forward alone (mish_by_hand in
# examples/plugin/activations.cc): the derivatives used to check, train and
# plot it come from dual numbers.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/cli_helpers.cmake)

# Second order, by finite differences and against the oracle in both dtypes.
run(gradcheck --plugin ${PLUGIN} --op mish_by_hand --second-order --report)
require_substring("${out}" "PASS  mish_by_hand" "gradcheck --report")
require_substring("${out}" "exact derivatives   ok in float64" "gradcheck --report")
require_substring("${out}" "ok in float32 against dual numbers" "gradcheck --report")
require_substring("${out}" "second derivative   ok" "gradcheck --report")

# It trains: the loss falls and the accuracy is that of a working network.
run(train --plugin ${PLUGIN} --activation mish_by_hand --epochs 30 --no-progress --json)
string(JSON accuracy GET "${out}" test_accuracy)
if(accuracy LESS 0.9)
  message(FATAL_ERROR "mish_by_hand trained to a test accuracy of ${accuracy}:\n${out}")
endif()

# It plots, derivative included (the dashed curve).
run(plot --plugin ${PLUGIN} --op mish_by_hand --out ${WORK_DIR}/mish_by_hand.svg)
file(READ ${WORK_DIR}/mish_by_hand.svg svg)
require_substring("${svg}" "mish_by_hand" "the plot")
require_substring("${svg}" "stroke-dasharray" "the plot")
