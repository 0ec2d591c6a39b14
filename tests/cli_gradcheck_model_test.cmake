# `actgrad gradcheck --model`: networks trained for one epoch on the bundled
# digits and saved (an MLP, a CNN on 8x8 images, an LSTM over the rows, a
# transformer encoder) pass on random inputs and on rows of the data with
# the task's loss; --json prints the report as an object; a tolerance no
# finite difference meets makes the check fail, shrunk; bad files and flags
# are refused.
file(MAKE_DIRECTORY ${WORK_DIR})

function(run)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  set(out "${out}" PARENT_SCOPE)
  set(err "${err}" PARENT_SCOPE)
  set(rc "${rc}" PARENT_SCOPE)
endfunction()

function(expect_in text needle what)
  string(FIND "${text}" "${needle}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${what}: no \"${needle}\" in:\n${text}")
  endif()
endfunction()

set(models
    "mlp|linear:16,tanh,dropout:0.2|-"
    "cnn|conv2d:4:3:pad=1,batchnorm,relu,maxpool:2,flatten,linear:16,relu|1,8,8"
    "lstm|lstm:8,last|8,8"
    "transformer|linear:8,posembed,transformer:2:16,mean|8,8")
foreach(entry ${models})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 layers)
  list(GET parts 2 shape)
  set(shape_flags)
  if(NOT shape STREQUAL "-")
    set(shape_flags --input-shape ${shape})
  endif()
  run(${ACTGRAD} train --data ${DATA} ${shape_flags} --layers ${layers} --epochs 1
      --no-progress --save ${WORK_DIR}/${name}.safetensors)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "training the ${name} failed (${rc}):\n${out}\n${err}")
  endif()

  # Random rows of the saved width, random cotangent.
  run(${ACTGRAD} gradcheck --model ${WORK_DIR}/${name}.safetensors --rows 4)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gradcheck --model ${name} failed (${rc}):\n${out}\n${err}")
  endif()
  expect_in("${out}" "PASS  ok:" "${name}")
  expect_in("${out}" "4 random rows, N(0, 1), training mode" "${name}")
  expect_in("${out}" "cotangent" "${name}")

  # Rows of the data, the task's loss, as JSON.
  run(${ACTGRAD} gradcheck --model ${WORK_DIR}/${name}.safetensors --data ${DATA} --rows 4 --json)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "gradcheck --model ${name} --data --json failed (${rc}):\n${out}\n${err}")
  endif()
  string(JSON passed GET "${out}" passed)
  string(JSON verdict GET "${out}" verdict)
  string(JSON loss_name GET "${out}" loss_name)
  string(JSON checks LENGTH "${out}" checks)
  string(JSON tensors GET "${out}" parameter_tensors)
  string(JSON rows GET "${out}" checked_shape 0)
  string(JSON worst GET "${out}" worst tensor)
  if(NOT passed OR NOT verdict STREQUAL "ok" OR NOT loss_name STREQUAL "multiclass loss"
     OR NOT rows EQUAL 4 OR worst STREQUAL "")
    message(FATAL_ERROR "unexpected JSON for the ${name}:\n${out}")
  endif()
  # Two directions over everything, one per tensor, one over the input.
  math(EXPR expected "${tensors} + 3")
  if(NOT checks EQUAL expected)
    message(FATAL_ERROR "${name}: ${checks} directions, expected ${expected}:\n${out}")
  endif()
  # Within tolerance: relative 1e-5, or the absolute floor for a gradient
  # that is zero by construction (a convolution's bias before batch norm).
  string(JSON worst_passed GET "${out}" worst passed)
  if(NOT worst_passed)
    message(FATAL_ERROR "${name}: the worst direction is outside the tolerance:\n${out}")
  endif()
endforeach()

# The CNN's layers are named by their parameter tensors and kinds.
run(${ACTGRAD} gradcheck --model ${WORK_DIR}/cnn.safetensors --rows 2 --json)
string(JSON count LENGTH "${out}" checks)
set(seen "")
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON tensor GET "${out}" checks ${i} tensor)
  string(JSON kind GET "${out}" checks ${i} kind)
  string(APPEND seen "${tensor}:${kind} ")
endforeach()
foreach(expected "1.weight:conv2d" "2.weight:batch_norm2d" "6.bias:linear")
  expect_in("${seen}" "${expected}" "the CNN's directions")
endforeach()

# A tolerance that no finite difference meets: the check fails, and the
# failure is shrunk to one row before it is reported.
run(${ACTGRAD} gradcheck --model ${WORK_DIR}/mlp.safetensors --rows 8 --rtol 0 --atol 1e-300)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "an impossible tolerance passed (${rc}):\n${out}\n${err}")
endif()
expect_in("${out}" "FAIL  mismatch" "impossible tolerance")
expect_in("${out}" "shrunk input: [1,64] (from [8,64])" "impossible tolerance")
expect_in("${out}" "rows 8 -> 4" "impossible tolerance")

# Refusals: a missing file (named), flags for ops, a file that is no model.
run(${ACTGRAD} gradcheck --model ${WORK_DIR}/missing.safetensors)
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "a missing model was not refused (${rc}):\n${out}\n${err}")
endif()
expect_in("${err}" "missing.safetensors" "missing model")
run(${ACTGRAD} gradcheck --model ${WORK_DIR}/mlp.safetensors --op tanh)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "--model with --op was not refused (${rc}):\n${out}\n${err}")
endif()
run(${ACTGRAD} gradcheck --model ${DATA})
if(NOT rc EQUAL 1)
  message(FATAL_ERROR "a CSV file as a model was not refused (${rc}):\n${out}\n${err}")
endif()
expect_in("${err}" "digits.csv" "CSV as a model")
