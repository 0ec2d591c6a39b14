# Consuming the source tree: tests/fetchcontent builds the library as a
# subproject (no tests, benchmarks or tools) and a program against it.
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed: ${ARGN}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/fetchcontent -B ${WORK_DIR} -G Ninja
    -DACTGRAD_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release -DACTGRAD_MPI=OFF)
run(${CMAKE_COMMAND} --build ${WORK_DIR} --target custom_network)
run(${WORK_DIR}/custom_network ${SOURCE_DIR}/data/breast_cancer.csv)
