# `actgrad train` on the bundled data, saved and applied with `predict`.
set(model ${WORK_DIR}/model.safetensors)
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${ACTGRAD} train --epochs 30 --json --no-progress --save ${model}
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train failed (${rc}):\n${out}\n${err}")
endif()
foreach(key task epochs train_loss test_loss test_accuracy seconds)
  string(JSON value ERROR_VARIABLE missing GET "${out}" ${key})
  if(missing)
    message(FATAL_ERROR "train --json lacks ${key}:\n${out}")
  endif()
endforeach()
string(JSON task GET "${out}" task)
string(JSON accuracy GET "${out}" test_accuracy)
if(NOT task STREQUAL "binary" OR accuracy LESS 0.9)
  message(FATAL_ERROR "unexpected result:\n${out}")
endif()
# What train decided is printed before training (on stderr under --json).
foreach(decision "task       binary" "output sigmoid" "He in front of relu" "[0, 1]")
  string(FIND "${err}" "${decision}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "train did not report \"${decision}\":\n${err}")
  endif()
endforeach()

execute_process(COMMAND ${ACTGRAD} predict --model ${model} --data ${DATA} --json
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "predict failed (${rc}):\n${out}\n${err}")
endif()
string(JSON rows GET "${out}" rows)
string(JSON accuracy GET "${out}" accuracy)
if(NOT rows EQUAL 569 OR accuracy LESS 0.9)
  message(FATAL_ERROR "unexpected predictions:\n${out}")
endif()

# Bad input is an error with a message, not a crash.
execute_process(COMMAND ${ACTGRAD} train --activation tahn --epochs 1
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "tanh" suggestion)
if(rc EQUAL 0 OR suggestion EQUAL -1)
  message(FATAL_ERROR "unknown activation: rc ${rc}, stderr:\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} train --hidden 64,abc --epochs 1
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "abc" named)
if(rc EQUAL 0 OR named EQUAL -1)
  message(FATAL_ERROR "bad --hidden: rc ${rc}, stderr:\n${err}")
endif()

# predict also takes data without the target column.
file(STRINGS ${DATA} lines LIMIT_COUNT 4)
set(unlabelled "")
foreach(line IN LISTS lines)
  string(REGEX REPLACE ",[^,]*$" "" features "${line}")
  string(APPEND unlabelled "${features}\n")
endforeach()
file(WRITE ${WORK_DIR}/unlabelled.csv "${unlabelled}")
execute_process(COMMAND ${ACTGRAD} predict --model ${model} --data ${WORK_DIR}/unlabelled.csv --json
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "predict without labels failed (${rc}):\n${out}\n${err}")
endif()
string(JSON rows GET "${out}" rows)
string(JSON count LENGTH "${out}" predictions)
if(NOT rows EQUAL 3 OR NOT count EQUAL 3)
  message(FATAL_ERROR "unexpected predictions:\n${out}")
endif()

# Early stopping holds out a tenth of the training rows unless told
# otherwise, stops 3 epochs after the best validation loss and keeps that
# epoch's weights.
execute_process(COMMAND ${ACTGRAD} train --epochs 300 --json --no-progress --early-stopping 3
                        --optimizer adam --lr 0.01
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train --early-stopping failed (${rc}):\n${out}\n${err}")
endif()
string(JSON epochs_run GET "${out}" epochs_run)
string(JSON best GET "${out}" best_epoch)
string(JSON validation_rows GET "${out}" validation_rows)
string(JSON train_rows GET "${out}" train_rows)
string(JSON stopped GET "${out}" stopped)
math(EXPR all_train "${train_rows} + ${validation_rows}")
math(EXPR expected_epochs "${best} + 3")
if(NOT epochs_run EQUAL expected_epochs OR epochs_run GREATER_EQUAL 300 OR NOT all_train EQUAL 455
   OR NOT validation_rows EQUAL 46 OR NOT stopped MATCHES "^early stopping: validation loss")
  message(FATAL_ERROR "unexpected early stopping:\n${out}")
endif()
foreach(decision "validation fraction 0.1 (early stopping needs held-out rows)"
                 "409 train / 46 validation / 114 test rows" "stopping   after 3 epochs")
  string(FIND "${err}" "${decision}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "train --early-stopping did not report \"${decision}\":\n${err}")
  endif()
endforeach()

# Text labels are classes in sorted order; the model keeps their names and
# predict prints them.
set(iris "a,b,species\n")
set(species setosa versicolor virginica)
foreach(i RANGE 1 90)
  math(EXPR c "${i} % 3")
  math(EXPR jitter "${i} % 7")
  list(GET species ${c} label)
  string(APPEND iris "${c}.${jitter},-${c}.${jitter},${label}\n")
endforeach()
file(WRITE ${WORK_DIR}/iris.csv "${iris}")
execute_process(COMMAND ${ACTGRAD} train --data ${WORK_DIR}/iris.csv --epochs 60 --no-progress
                        --save ${WORK_DIR}/iris.safetensors
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${out}" "multiclass (auto: text labels with 3 values (setosa, versicolor, virginica))"
       planned)
if(NOT rc EQUAL 0 OR planned EQUAL -1)
  message(FATAL_ERROR "text labels were not planned as three classes (${rc}):\n${out}\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} predict --model ${WORK_DIR}/iris.safetensors
                        --data ${WORK_DIR}/iris.csv --json
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(JSON label GET "${out}" predictions 0 label)
string(JSON names GET "${out}" labels)
string(JSON accuracy GET "${out}" accuracy)
if(NOT rc EQUAL 0 OR NOT label MATCHES "^(setosa|versicolor|virginica)$"
   OR NOT names STREQUAL "[ \"setosa\", \"versicolor\", \"virginica\" ]" OR accuracy LESS 0.9)
  message(FATAL_ERROR "predict did not name the classes (${rc}):\n${out}\n${err}")
endif()

# Without test rows there is no test figure: null, not zero.
execute_process(COMMAND ${ACTGRAD} train --test-fraction 0 --epochs 2 --json --no-progress
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(JSON test_loss_type TYPE "${out}" test_loss)
string(JSON test_accuracy_type TYPE "${out}" test_accuracy)
if(NOT rc EQUAL 0 OR NOT test_loss_type STREQUAL "NULL" OR NOT test_accuracy_type STREQUAL "NULL")
  message(FATAL_ERROR "--test-fraction 0 reported test figures:\n${out}")
endif()

# predict names the column a file lacks.
file(WRITE ${WORK_DIR}/iris_without_a.csv "b,species\n-0.1,setosa\n-1.2,versicolor\n")
execute_process(COMMAND ${ACTGRAD} predict --model ${WORK_DIR}/iris.safetensors
                        --data ${WORK_DIR}/iris_without_a.csv
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "lacks the column a the model was trained on" named)
if(rc EQUAL 0 OR named EQUAL -1)
  message(FATAL_ERROR "predict did not name the missing column (${rc}):\n${err}")
endif()

# A column name with a line break survives the model file: predict reads the
# same data back.
file(WRITE ${WORK_DIR}/newline_header.csv "\"first\nline\",second,y\n1,2,0\n2,1,1\n3,3,0\n4,1,1\n5,2,0\n6,1,1\n7,3,0\n8,1,1\n9,2,0\n10,1,1\n")
execute_process(COMMAND ${ACTGRAD} train --data ${WORK_DIR}/newline_header.csv --epochs 2
                        --no-progress --save ${WORK_DIR}/newline.safetensors
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err)
execute_process(COMMAND ${ACTGRAD} predict --model ${WORK_DIR}/newline.safetensors
                        --data ${WORK_DIR}/newline_header.csv
                RESULT_VARIABLE rc2 OUTPUT_QUIET ERROR_VARIABLE err2)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0)
  message(FATAL_ERROR "a header with a line break broke the model (${rc}, ${rc2}):\n${err}\n${err2}")
endif()

# Whole-number labels far apart are two classes, not a million outputs.
file(WRITE ${WORK_DIR}/far_labels.csv "a,y\n1,0\n2,999999\n3,0\n4,999999\n5,0\n6,999999\n7,0\n8,999999\n")
execute_process(COMMAND ${ACTGRAD} train --data ${WORK_DIR}/far_labels.csv --epochs 1 --no-progress
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${out}" "binary (auto: whole-number labels with 2 values (0, 999999))" two)
string(FIND "${out}" "1 -> 64 -> 32 -> 1," narrow)
if(NOT rc EQUAL 0 OR two EQUAL -1 OR narrow EQUAL -1)
  message(FATAL_ERROR "labels 0 and 999999 were not two classes (${rc}):\n${out}\n${err}")
endif()
