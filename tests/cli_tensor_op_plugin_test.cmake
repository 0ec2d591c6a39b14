# Tensor ops from a plugin (examples/plugin/tensor_ops.cc) on the command
# line: checked to second order, trained and saved as layers, the model
# loaded again with the plugin, profiled; and a plugin whose tensor op has a
# wrong backward refused before any command runs.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})

include(${CMAKE_CURRENT_LIST_DIR}/cli_helpers.cmake)

# The registry-driven check covers the plugin's ops, to second order.
run(gradcheck --plugin ${PLUGIN} --op rms_norm --op l2_pool1d --second-order --report)
require_substring("${out}" "PASS  rms_norm" "gradcheck --report")
require_substring("${out}" "PASS  l2_pool1d" "gradcheck --report")
require_substring("${out}" "second derivative   ok" "gradcheck --report")

# Trained as layers: the loss falls from one epoch to eight and the network
# learns the digits.
set(layers "linear:64,rms_norm,relu,l2_pool1d,linear:32,rms_norm:eps=0.001,tanh")
run(train --plugin ${PLUGIN} --data ${DATA} --layers ${layers} --epochs 1 --no-progress --json)
string(JSON first_loss GET "${out}" train_loss)
run(train --plugin ${PLUGIN} --data ${DATA} --layers ${layers} --epochs 8 --no-progress --json
    --save ${WORK_DIR}/model.actgrad)
string(JSON last_loss GET "${out}" train_loss)
string(JSON accuracy GET "${out}" test_accuracy)
if(NOT last_loss LESS first_loss OR accuracy LESS 0.85)
  message(FATAL_ERROR "with tensor op layers the training loss went from ${first_loss} to "
                      "${last_loss} and the test accuracy is ${accuracy}:\n${out}")
endif()

# The saved model names the ops; it loads again once the plugin is loaded.
run(predict --plugin ${PLUGIN} --model ${WORK_DIR}/model.actgrad --data ${DATA} --json)
execute_process(COMMAND ${ACTGRAD} predict --model ${WORK_DIR}/model.actgrad --data ${DATA}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "predict without the plugin loaded a model that needs it")
endif()
require_substring("${err}" "rms_norm" "predict without --plugin")

# Profiled: the op has a row of its own in the table.
run(profile --plugin ${PLUGIN} --data ${DATA} --layers ${layers} --steps 3 --warmup 1)
require_substring("${out}" "rms_norm" "profile")
require_substring("${out}" "l2_pool1d" "profile")

# A tensor op with a wrong backward is refused at load, naming it, the shape
# and the worst element; nothing runs.
execute_process(COMMAND ${ACTGRAD} train --plugin ${BAD_PLUGIN} --data ${DATA} --epochs 1
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(rc EQUAL 0)
  message(FATAL_ERROR "a plugin whose tensor op has a wrong backward was loaded:\n${out}")
endif()
require_substring("${err}" "tensor op \"bad_rms_norm\" is refused" "train with a bad plugin")
require_substring("${err}" "case [3,4]" "train with a bad plugin")
require_substring("${err}" "worst element" "train with a bad plugin")
