# `actgrad profile` prints its tables, and writes a trace of every step and a
# graph; profiles a saved network; runs unfused on request.
file(MAKE_DIRECTORY ${WORK_DIR})
execute_process(COMMAND ${ACTGRAD} profile --steps 4 --warmup 1 --trace ${WORK_DIR}/t.json
                        --dot ${WORK_DIR}/g.dot
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "profile failed (${rc}):\n${out}\n${err}")
endif()
# The program that runs is profiled: Linear and relu as one fused op.
foreach(expected "bwd/fwd" "0.linear" "linear_activation" "% GEMM" "optimizer.step"
                 "optimizer.zero_grad" "backward.setup" "(gaps, forward)" "module" "0 (linear)"
                 "roofs measured at start: FMA")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "profile output lacks \"${expected}\":\n${out}")
  endif()
endforeach()
string(FIND "${out}" "1.relu" at)
if(NOT at EQUAL -1)
  message(FATAL_ERROR "a fused relu has a row of its own:\n${out}")
endif()
# Every profiled step is a named slice of the trace.
file(READ ${WORK_DIR}/t.json trace)
foreach(step "step 0" "step 3")
  string(FIND "${trace}" "\"name\":\"${step}\"" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the trace lacks \"${step}\"")
  endif()
endforeach()
# The graph names parameters, puts times inside nodes and has a legend.
file(READ ${WORK_DIR}/g.dot graph)
foreach(expected "0.weight" "fwd " "cluster_legend" "median times over 4 profiled steps")
  string(FIND "${graph}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "the graph lacks \"${expected}\":\n${graph}")
  endif()
endforeach()
# Unfused: a row per activation, and the unfused step timed without the
# profiler beside the fused one.
execute_process(COMMAND ${ACTGRAD} profile --steps 2 --warmup 0 --unfuse
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
foreach(expected "1.relu" "unfused without the profiler")
  string(FIND "${out}" "${expected}" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "profile --unfuse lacks \"${expected}\" (${rc}):\n${out}\n${err}")
  endif()
endforeach()
# A saved network, on its data.
execute_process(COMMAND ${ACTGRAD} train --epochs 1 --hidden 16 --save ${WORK_DIR}/m.actgrad
                OUTPUT_QUIET ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "train --save failed (${rc}):\n${err}")
endif()
execute_process(COMMAND ${ACTGRAD} profile --model ${WORK_DIR}/m.actgrad --steps 2 --warmup 0
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
foreach(expected "m.actgrad on" "0.linear" "optimizer.step")
  string(FIND "${out}" "${expected}" at)
  if(NOT rc EQUAL 0 OR at EQUAL -1)
    message(FATAL_ERROR "profile --model lacks \"${expected}\" (${rc}):\n${out}\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${ACTGRAD} profile --model ${WORK_DIR}/m.actgrad --steps 1
                        --data ${CMAKE_CURRENT_LIST_DIR}/../data/digits.csv
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
# The digits have neither the network's target nor its features.
string(FIND "${err}" "digits.csv:1: no target column named \"benign\"" at)
if(rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "profile --model on other data was accepted (${rc}):\n${err}")
endif()
file(READ ${WORK_DIR}/t.json trace)
string(JSON events LENGTH "${trace}" traceEvents)
if(events LESS 10)
  message(FATAL_ERROR "trace has only ${events} events")
endif()
file(READ ${WORK_DIR}/g.dot graph)
string(FIND "${graph}" "digraph" at)
if(at EQUAL -1)
  message(FATAL_ERROR "not a DOT graph:\n${graph}")
endif()
execute_process(COMMAND ${ACTGRAD} profile --steps 2 --warmup 0 --json
                OUTPUT_VARIABLE out RESULT_VARIABLE rc)
string(JSON step_ms GET "${out}" step_ms)
string(JSON ops LENGTH "${out}" ops)
string(JSON modules LENGTH "${out}" modules)
# The fused layers' row has a cost class (rows of scopes and gaps have none,
# and under load any of them may come first).
set(bound "")
math(EXPR last "${ops} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${out}" ops ${i} name)
  if(name STREQUAL "linear_activation")
    string(JSON bound GET "${out}" ops ${i} bound)
  endif()
endforeach()
if(NOT rc EQUAL 0 OR ops LESS 3 OR modules LESS 3 OR NOT bound MATCHES "^(compute|memory)$")
  message(FATAL_ERROR "profile --json:\n${out}")
endif()
string(JSON peak GET "${out}" memory peak_bytes)
string(JSON buffers LENGTH "${out}" memory buffers)
if(peak LESS_EQUAL 0 OR buffers LESS 2)
  message(FATAL_ERROR "profile --json lacks the memory report:\n${out}")
endif()
# The memory report, the trace's memory counter and the checkpointing advice.
execute_process(COMMAND ${ACTGRAD} profile --steps 2 --warmup 0 --memory --memory-budget 1KiB
                        --trace ${WORK_DIR}/m.json
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "profile --memory failed (${rc}):\n${out}\n${err}")
endif()
foreach(expected "saved for backward: peak" "layer (saved memory)" "module (saved memory)"
                 "largest buffers" "MiB off peak" "for a budget of 0.001 MiB")
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "profile --memory output lacks \"${expected}\":\n${out}")
  endif()
endforeach()
file(READ ${WORK_DIR}/m.json trace)
string(FIND "${trace}" "\"ph\":\"C\"" at)
if(at EQUAL -1)
  message(FATAL_ERROR "the trace has no memory counter track")
endif()
execute_process(COMMAND ${ACTGRAD} profile --steps 1 --memory-budget lots
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "is not a size" at)
if(rc EQUAL 0 OR at EQUAL -1)
  message(FATAL_ERROR "a bad --memory-budget was accepted (${rc}):\n${err}")
endif()
# Keeping every step's profile is sized before it is allocated.
# 40 narrow layers record about 36 KiB a step, 3.4 GiB over 100000 steps.
string(REPEAT "8," 39 narrow)
execute_process(COMMAND ${ACTGRAD} profile --hidden ${narrow}8 --steps 100000
                OUTPUT_VARIABLE out ERROR_VARIABLE err RESULT_VARIABLE rc)
string(FIND "${err}" "would keep about" at)
if(NOT rc EQUAL 2 OR at EQUAL -1)
  message(FATAL_ERROR "profile --steps 100000 was not refused (${rc}):\n${err}")
endif()
