# Bad command lines end with a message and a non-zero exit, never a crash.
function(expect_failure expected)
  execute_process(COMMAND ${ACTGRAD} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  # Zero is success; 128 and above (or a text) means a signal, a crash.
  if(NOT rc MATCHES "^[0-9]+$" OR rc EQUAL 0 OR rc GREATER_EQUAL 128)
    message(FATAL_ERROR "actgrad ${ARGN}: exit status ${rc}\n${out}\n${err}")
  endif()
  string(FIND "${out}${err}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "actgrad ${ARGN}: no \"${expected}\" in:\n${out}\n${err}")
  endif()
endfunction()
expect_failure("frobnicate" frobnicate)
expect_failure("--bogus" train --bogus)
expect_failure("--epochs" train --epochs 0)
expect_failure("--test-fraction" train --test-fraction 1.5 --epochs 1)
expect_failure("tanh" train --activation tahn --epochs 1)
expect_failure("abc" train --hidden 64,abc --epochs 1)
expect_failure("No such file" train --data /nonexistent.csv)
expect_failure("no op named" gradcheck --op sigmod)
expect_failure("plugin" gradcheck --plugin /etc/hostname)
expect_failure("the optimizers are sgd, adam, adamw, rmsprop, adagrad"
               train --optimizer adm --epochs 1)
expect_failure("adam takes no momentum" train --optimizer adam --momentum 0.5 --epochs 1)
expect_failure("beta2 must be in [0, 1), got 1" train --optimizer adamw --beta2 1 --epochs 1)
expect_failure("eps must be > 0" train --optimizer rmsprop --eps 0 --epochs 1)
expect_failure("--validation-fraction 1 is outside [0, 1)"
               train --validation-fraction 1 --epochs 1)
expect_failure("--validation-fraction nan is outside [0, 1)"
               train --validation-fraction nan --epochs 1)
expect_failure("--early-stopping -2 is negative" train --early-stopping -2 --epochs 1)
expect_failure("--validation-fraction 0.999 of 455 training rows leaves none for training"
               train --validation-fraction 0.999 --epochs 1)
# Labels that are not what the task claims.
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/single_value.csv "a,y\n1,1\n2,1\n3,1\n4,1\n5,1\n")
expect_failure("the target column \"y\" has a single value (1); there is nothing to learn"
               train --data ${CMAKE_CURRENT_BINARY_DIR}/single_value.csv --epochs 1)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/three_classes.csv
     "a,y\n1,0\n2,1\n3,2\n4,0\n5,1\n6,2\n7,0\n8,1\n9,2\n10,0\n")
expect_failure("--task binary needs two classes; the target column \"y\" has 3: 0, 1, 2"
               train --data ${CMAKE_CURRENT_BINARY_DIR}/three_classes.csv --task binary --epochs 1)
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/huge_value.csv "a,y\n5e38,1\n2,0\n")
expect_failure("huge_value.csv:2:1: \"5e38\" is beyond float32's range"
               train --data ${CMAKE_CURRENT_BINARY_DIR}/huge_value.csv --epochs 1)
# Command-line mistakes exit with 2 and say the range in words.
function(expect_usage_error expected)
  execute_process(COMMAND ${ACTGRAD} ${ARGN} OUTPUT_VARIABLE out ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  string(FIND "${err}" "${expected}" at)
  if(NOT rc EQUAL 2 OR at EQUAL -1)
    message(FATAL_ERROR "actgrad ${ARGN}: exit ${rc}, wanted 2 and \"${expected}\":\n${err}")
  endif()
  string(LENGTH "${err}" length)
  if(length GREATER 400)
    message(FATAL_ERROR "actgrad ${ARGN}: a ${length}-character message:\n${err}")
  endif()
endfunction()
expect_usage_error("--clip-norm -1: must be >= 0" train --clip-norm -1)
expect_usage_error("--epochs 0: must be between 1 and 1000000" train --epochs 0)
expect_usage_error("--threads 1000: must be between 1 and 256" train --threads 1000)
execute_process(COMMAND ${ACTGRAD} OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "predict     Apply a saved model" listed)
if(NOT rc EQUAL 2 OR listed EQUAL -1)
  message(FATAL_ERROR "actgrad alone did not list the commands (exit ${rc}):\n${err}")
endif()
expect_failure("--lr nan: must be a finite number" train --lr nan --epochs 1)
expect_failure("--lr -0.5: must be >= 0" train --lr -0.5 --epochs 1)
# Sizes a flag asks for are checked before anything is allocated.
expect_failure("--hidden 100000000: training this network needs about"
               train --hidden 100000000 --epochs 1)
expect_failure("and --max-memory is 100.0 MB" train --hidden 4096,4096 --max-memory 100M --epochs 1)
expect_failure("--max-memory lots: expected a size" train --max-memory lots --epochs 1)
# A collective timeout that would overflow into an immediate one.
expect_usage_error("--comm-timeout 1e+16: must be a number of seconds in (0, 1000000]"
                   train --distributed --comm-timeout 1e16)
expect_usage_error("--comm-timeout inf: must be a finite number >= 0" train --distributed
                   --comm-timeout inf)
expect_failure("(an op from a plugin needs --plugin PATH)" gradcheck --op sin_plus)
