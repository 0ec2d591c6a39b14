# A run stopped after a checkpoint and resumed ends with the same weights,
# bit for bit, as one that was never stopped (one thread, same seed).
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(train)
  execute_process(COMMAND ${ACTGRAD} train --no-progress --json ${ARGN}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "train ${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()
train(--epochs 12 --save ${WORK_DIR}/straight.safetensors)
train(--epochs 7 --checkpoint ${WORK_DIR}/ck.safetensors --checkpoint-every 7)
train(--epochs 12 --checkpoint ${WORK_DIR}/ck.safetensors --resume
      --save ${WORK_DIR}/resumed.safetensors)
file(SHA256 ${WORK_DIR}/straight.safetensors straight)
file(SHA256 ${WORK_DIR}/resumed.safetensors resumed)
if(NOT straight STREQUAL resumed)
  message(FATAL_ERROR "the resumed run's model differs from the uninterrupted one")
endif()
# A checkpoint of another architecture is refused.
execute_process(COMMAND ${ACTGRAD} train --no-progress --epochs 12 --hidden 8
                        --checkpoint ${WORK_DIR}/ck.safetensors --resume
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "another architecture" refused)
if(rc EQUAL 0 OR refused EQUAL -1)
  message(FATAL_ERROR "a mismatched checkpoint was not refused:\n${err}")
endif()
# The same with Adam, parameter groups, AMSGrad, a warm-up, step decay (a
# schedule that does not depend on --epochs) and a plateau that
# halves the rate after every epoch without improvement: the moments, the
# maximum, the per-parameter step counts and the plateau's state travel in
# the checkpoint.
set(adam --optimizer adam --lr 0.003 --amsgrad --weight-decay 1e-3 --no-decay-on bias
    --schedule warmup:20,step:3:0.5,plateau:0.5:0)
train(${adam} --epochs 9 --save ${WORK_DIR}/adam_straight.safetensors)
train(${adam} --epochs 4 --checkpoint ${WORK_DIR}/adam_ck.safetensors --checkpoint-every 4)
train(${adam} --epochs 9 --checkpoint ${WORK_DIR}/adam_ck.safetensors --resume
      --save ${WORK_DIR}/adam_resumed.safetensors)
file(SHA256 ${WORK_DIR}/adam_straight.safetensors straight)
file(SHA256 ${WORK_DIR}/adam_resumed.safetensors resumed)
if(NOT straight STREQUAL resumed)
  message(FATAL_ERROR "the resumed Adam run's model differs from the uninterrupted one")
endif()
# Resuming Adam's state with another optimizer is refused, naming both.
execute_process(COMMAND ${ACTGRAD} train --no-progress --epochs 9 --optimizer rmsprop
                        --checkpoint ${WORK_DIR}/adam_ck.safetensors --resume
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "was trained with Adam; this run uses RMSprop" refused)
if(rc EQUAL 0 OR refused EQUAL -1)
  message(FATAL_ERROR "another optimizer's checkpoint was not refused:\n${err}")
endif()
# Early stopping: the best epoch's weights and how long the figure has not
# improved travel in the checkpoint, so a run resumed before or after the
# best epoch stops at the same epoch and keeps the same weights.
set(stopping --optimizer adam --lr 0.01 --early-stopping 5)
train(${stopping} --epochs 200 --save ${WORK_DIR}/es_straight.safetensors)
string(JSON straight_epochs GET "${out}" epochs_run)
string(JSON straight_best GET "${out}" best_epoch)
math(EXPR expected_epochs "${straight_best} + 5")
if(straight_epochs GREATER_EQUAL 200 OR NOT straight_epochs EQUAL expected_epochs)
  message(FATAL_ERROR "early stopping did not stop 5 epochs after the best one:\n${out}")
endif()
# One checkpoint before the best epoch (or at it, when that is the first),
# one after it.
set(before 1)
if(straight_best GREATER 1)
  math(EXPR before "${straight_best} - 1")
endif()
math(EXPR after "${straight_epochs} - 1")
foreach(at ${before} ${after})
  train(${stopping} --epochs ${at} --checkpoint ${WORK_DIR}/es_ck${at}.safetensors
        --checkpoint-every ${at})
  train(${stopping} --epochs 200 --checkpoint ${WORK_DIR}/es_ck${at}.safetensors --resume
        --save ${WORK_DIR}/es_resumed${at}.safetensors)
  string(JSON best GET "${out}" best_epoch)
  file(SHA256 ${WORK_DIR}/es_straight.safetensors straight)
  file(SHA256 ${WORK_DIR}/es_resumed${at}.safetensors resumed)
  if(NOT straight STREQUAL resumed OR NOT best EQUAL straight_best)
    message(FATAL_ERROR "resumed at epoch ${at}, early stopping kept another model:\n${out}")
  endif()
endforeach()

# Resumed with nothing left to do: no zeros reported as if measured.
train(--epochs 3 --checkpoint ${WORK_DIR}/done.safetensors --checkpoint-every 3)
train(--epochs 3 --checkpoint ${WORK_DIR}/done.safetensors --resume)
string(JSON epochs_run GET "${out}" epochs_run)
string(JSON train_loss_type TYPE "${out}" train_loss)
string(JSON speed_type TYPE "${out}" samples_per_second)
string(JSON test_loss GET "${out}" test_loss)
if(NOT epochs_run EQUAL 0 OR NOT train_loss_type STREQUAL "NULL" OR NOT speed_type STREQUAL "NULL"
   OR test_loss EQUAL 0)
  message(FATAL_ERROR "a resumed run with nothing left reported made-up figures:\n${out}")
endif()
