# Activations that a plugin gives by their forward alone (mish_by_hand and
# mish_softplus in examples/plugin/activations.cc): the derivatives used to
# check, train and plot them come from dual numbers.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/cli_helpers.cmake)

foreach(op IN ITEMS mish_by_hand mish_softplus)
  # Second order, by finite differences and against the oracle in both dtypes.
  run(gradcheck --plugin ${PLUGIN} --op ${op} --second-order --report)
  require_substring("${out}" "PASS  ${op}" "gradcheck --report")
  require_substring("${out}" "exact derivatives   ok in float64" "gradcheck --report")
  require_substring("${out}" "ok in float32 against dual numbers" "gradcheck --report")
  require_substring("${out}" "second derivative   ok" "gradcheck --report")

  # It trains: the loss falls and the accuracy is that of a working network.
  run(train --plugin ${PLUGIN} --activation ${op} --epochs 30 --no-progress --json)
  string(JSON accuracy GET "${out}" test_accuracy)
  if(accuracy LESS 0.9)
    message(FATAL_ERROR "${op} trained to a test accuracy of ${accuracy}:\n${out}")
  endif()

  # It plots, derivative included (the dashed curve).
  run(plot --plugin ${PLUGIN} --op ${op} --out ${WORK_DIR}/${op}.svg)
  file(READ ${WORK_DIR}/${op}.svg svg)
  require_substring("${svg}" "${op}" "the plot")
  require_substring("${svg}" "stroke-dasharray" "the plot")
endforeach()
