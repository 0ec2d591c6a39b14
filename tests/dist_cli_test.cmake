# `mpirun -np N actgrad train --distributed`, as a user runs it.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run_ok result)
  execute_process(COMMAND ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc
                  TIMEOUT 120)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN} failed (${rc}):\n${out}\n${err}")
  endif()
  set(${result} "${out}" PARENT_SCOPE)
endfunction()
set(common --no-progress --json --seed 3)

# Two ranks with batch 16 take the steps of one process with batch 32.
run_ok(single ${ACTGRAD} train ${common} --epochs 8 --batch 32)
run_ok(distributed ${MPIEXEC} --oversubscribe -np 2 ${ACTGRAD} train --distributed ${common}
       --epochs 8 --batch 16 --save ${WORK_DIR}/two_ranks.safetensors)
string(JSON single_loss GET "${single}" train_loss)
string(JSON distributed_loss GET "${distributed}" train_loss)
string(JSON ranks LENGTH "${distributed}" ranks)
if(NOT ranks EQUAL 2)
  message(FATAL_ERROR "expected one JSON object with two ranks' figures:\n${distributed}")
endif()
string(JSON rank1_rows GET "${distributed}" ranks 1 rows)
# string(JSON) gives text; compare the losses to 5 significant digits.
string(SUBSTRING "${single_loss}" 0 7 a)
string(SUBSTRING "${distributed_loss}" 0 7 b)
if(NOT a STREQUAL b)
  message(FATAL_ERROR "train loss ${distributed_loss} on 2 ranks, ${single_loss} on one process")
endif()
if(rank1_rows LESS 1)
  message(FATAL_ERROR "rank 1 trained no rows:\n${distributed}")
endif()
# Only rank 0 printed (one JSON object) and saved; the file is a usable model.
run_ok(predicted ${ACTGRAD} predict --json --model ${WORK_DIR}/two_ranks.safetensors
       --data ${DATA_DIR}/breast_cancer.csv)

# Stopped after a checkpoint and resumed on 2 ranks: bitwise the weights of
# the uninterrupted 2-rank run (rank 0 reads the checkpoint and broadcasts it).
run_ok(first_half ${MPIEXEC} --oversubscribe -np 2 ${ACTGRAD} train --distributed ${common}
       --batch 16 --epochs 4 --checkpoint ${WORK_DIR}/ck.safetensors --checkpoint-every 4)
run_ok(second_half ${MPIEXEC} --oversubscribe -np 2 ${ACTGRAD} train --distributed ${common}
       --epochs 8 --batch 16 --checkpoint ${WORK_DIR}/ck.safetensors --resume
       --save ${WORK_DIR}/resumed.safetensors)
file(SHA256 ${WORK_DIR}/two_ranks.safetensors straight)
file(SHA256 ${WORK_DIR}/resumed.safetensors resumed)
if(NOT straight STREQUAL resumed)
  message(FATAL_ERROR "the resumed 2-rank run differs from the uninterrupted one")
endif()
# ... and it went through only the remaining 4 epochs, on both ranks.
foreach(rank 0 1)
  string(JSON steps_before GET "${first_half}" ranks ${rank} steps)
  string(JSON steps_after GET "${second_half}" ranks ${rank} steps)
  if(NOT steps_before EQUAL steps_after)
    message(FATAL_ERROR "rank ${rank}: ${steps_after} steps after resuming, ${steps_before} before")
  endif()
endforeach()

# Ranks started with different architectures: refused before the first
# step, naming the rank and both values (the model comparison of
# dist::DataParallel, behind it, is tested in dist_test).
execute_process(COMMAND ${MPIEXEC} --oversubscribe -np 1 ${ACTGRAD} train --distributed
                        --no-progress --hidden 8 : -np 1 ${ACTGRAD} train --distributed
                        --no-progress --hidden 12
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 120)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "rank 1 has --hidden 12, rank 0 8")
  message(FATAL_ERROR "mismatched models were not refused with the rank named (${rc}):\n${out}\n${err}")
endif()

# --bucket-kib 1 puts every parameter in a bucket of its own: more, smaller
# allreduces, the same sums, so the same training loss; --comm-timeout
# takes a positive number of seconds and refuses 0.
run_ok(small_buckets ${MPIEXEC} --oversubscribe -np 2 ${ACTGRAD} train --distributed ${common}
       --epochs 8 --batch 16 --bucket-kib 1 --comm-timeout 30)
string(JSON small_loss GET "${small_buckets}" train_loss)
string(JSON small_bytes GET "${small_buckets}" ranks 0 bytes_per_step)
string(JSON default_bytes GET "${distributed}" ranks 0 bytes_per_step)
string(SUBSTRING "${small_loss}" 0 7 c)
if(NOT c STREQUAL b OR NOT small_bytes EQUAL default_bytes)
  message(FATAL_ERROR "1 KiB buckets: loss ${small_loss}, ${small_bytes} bytes per step; "
                      "default buckets: loss ${distributed_loss}, ${default_bytes} bytes")
endif()
execute_process(COMMAND ${ACTGRAD} train --distributed --comm-timeout 0
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc TIMEOUT 60)
if(rc EQUAL 0 OR NOT "${out}${err}" MATCHES "comm-timeout")
  message(FATAL_ERROR "--comm-timeout 0 was not refused (${rc}):\n${out}\n${err}")
endif()
