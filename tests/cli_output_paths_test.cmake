# Every command that writes refuses, before it starts working and with exit
# status 2 and one line naming the option and the path, to write over one of
# its inputs, a device, a FIFO, a directory or a symbolic link (unless
# --follow-symlinks), or into a directory that does not exist.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
file(COPY ${DATA} DESTINATION ${WORK_DIR})
get_filename_component(data_name ${DATA} NAME)
set(data ${WORK_DIR}/${data_name})
file(SHA256 ${data} data_hash)

function(refused expected)
  execute_process(COMMAND ${ACTGRAD} ${ARGN} WORKING_DIRECTORY ${WORK_DIR}
                  OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
  string(FIND "${err}" "${expected}" at)
  if(NOT rc EQUAL 2 OR at EQUAL -1)
    message(FATAL_ERROR "actgrad ${ARGN}: exit ${rc}, wanted 2 and \"${expected}\":\n${out}\n${err}")
  endif()
  # Refused before the work: no epoch ran, nothing was profiled.
  string(FIND "${out}${err}" "epoch 1/" trained)
  if(NOT trained EQUAL -1)
    message(FATAL_ERROR "actgrad ${ARGN} trained before refusing:\n${out}\n${err}")
  endif()
endfunction()

refused("--save ${data}: is one of this command's inputs" train --data ${data} --save ${data})
refused("is ${data_name}, one of this command's inputs"
        train --data ${data_name} --save ./${data_name})
refused("--checkpoint ${data}: is one of this command's inputs"
        train --data ${data} --checkpoint ${data} --checkpoint-every 1)
file(CREATE_LINK ${data_name} ${WORK_DIR}/link.csv SYMBOLIC)
refused("--save link.csv: is a symbolic link; refusing to replace it"
        train --data ${data} --save link.csv)
refused("one of this command's inputs" train --data ${data} --save link.csv --follow-symlinks)
refused("--save /dev/null: exists and is a character device" train --data ${data} --save /dev/null)
refused("--save ${WORK_DIR}: exists and is a directory" train --data ${data} --save ${WORK_DIR})
refused("--save nowhere/model.safetensors: its directory nowhere does not exist"
        train --data ${data} --save nowhere/model.safetensors)
refused("--save and --checkpoint both name"
        train --data ${data} --save same.st --checkpoint same.st --checkpoint-every 1)
refused("--trace ${data}: is one of this command's inputs"
        profile --data ${data} --trace ${data} --steps 1)
refused("--dot link.csv: is a symbolic link" profile --data ${data} --dot link.csv --steps 1)
refused("--out link.csv: is a symbolic link" plot --op tanh --out link.csv)
refused("--report ${data}: exists and is a regular file, not a directory"
        experiment saturation --report ${data})
file(SHA256 ${data} after)
if(NOT after STREQUAL data_hash)
  message(FATAL_ERROR "the data changed")
endif()

# Followed, a link is written through; the link stays a link.
file(CREATE_LINK model.safetensors ${WORK_DIR}/model_link SYMBOLIC)
execute_process(COMMAND ${ACTGRAD} train --data ${data} --epochs 1 --no-progress
                        --save model_link --follow-symlinks
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT EXISTS ${WORK_DIR}/model.safetensors
   OR NOT IS_SYMLINK ${WORK_DIR}/model_link)
  message(FATAL_ERROR "--follow-symlinks did not write through the link (${rc}):\n${err}")
endif()

# A temporary file that a killed run left is removed by the next save.
file(WRITE ${WORK_DIR}/model.safetensors.tmp-4194305 "half a model")
execute_process(COMMAND ${ACTGRAD} train --data ${data} --epochs 1 --no-progress
                        --save model.safetensors
                WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
if(NOT rc EQUAL 0 OR EXISTS ${WORK_DIR}/model.safetensors.tmp-4194305)
  message(FATAL_ERROR "the stale temporary file is still there (${rc})")
endif()
